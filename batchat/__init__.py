"""BatChat's modules beside the three entry points (servidor.py, cliente.py, protocol.py).

Each module owns one thing and says so in its docstring. Imports only go down:
the entry points use these modules; these modules use ``protocol`` and each
other only as their docstrings allow; nothing here imports an entry point.
"""
