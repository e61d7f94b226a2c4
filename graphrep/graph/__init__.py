"""Graph data model: :class:`HeteroGraph` (typed CSR store), :class:`EventLog`, I/O."""

from graphrep.graph.csr import CSR
from graphrep.graph.eventlog import EventLog
from graphrep.graph.heterograph import HeteroGraph, reverse_name
from graphrep.graph.ragged import Ragged
from graphrep.graph.storage import load_graph, save_graph
from graphrep.graph.validate import EdgeType

__all__ = ["CSR", "EdgeType", "EventLog", "HeteroGraph", "Ragged", "load_graph", "reverse_name", "save_graph"]
