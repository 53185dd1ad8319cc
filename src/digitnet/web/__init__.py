"""The draw-a-digit web page: ``digitnet serve``.

A subpackage that imports the core and is never imported by it, so the
network itself needs nothing but NumPy; the web part needs FastAPI and
uvicorn (``pip install 'digitnet[web]'``).
"""
