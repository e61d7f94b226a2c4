"""Compiled (numba) samplers over graphrep's CSR: walks, importance neighborhoods, pairs, negatives, sequences."""
