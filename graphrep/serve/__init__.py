"""HTTP service over a run's embeddings (needs the optional ``serve`` extra: FastAPI + uvicorn).

``graphrep serve RUN`` or :func:`graphrep.serve.app.serve`; see :mod:`graphrep.serve.app`.
"""
