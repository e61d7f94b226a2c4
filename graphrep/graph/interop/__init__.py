"""Conversions between :class:`~graphrep.graph.HeteroGraph` and other graph libraries.

One module per library, imported lazily so that ``import graphrep`` never pays for
(or requires) them:

* :mod:`graphrep.graph.interop.pyg` - PyTorch Geometric ``HeteroData`` / ``Data``
  (:func:`~graphrep.graph.interop.pyg.to_pyg`, :func:`~graphrep.graph.interop.pyg.from_pyg`);
* :mod:`graphrep.graph.interop.networkx` - ``networkx`` graphs
  (``to_networkx``, ``from_networkx``);
* :mod:`graphrep.graph.interop.scipy` - ``scipy.sparse`` matrices per relation
  (``to_scipy``, ``from_scipy``);
* :mod:`graphrep.graph.interop.dgl` - DGL heterographs (``to_dgl``; optional ``dgl`` extra).

The same functions are reachable as ``HeteroGraph`` methods (``g.to_pyg()``,
``HeteroGraph.from_networkx(G)``...). Pandas / parquet tables live in
:mod:`graphrep.graph.tables`.
"""
