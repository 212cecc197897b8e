"""The query family: conditions, index planning, SQL and the searches exports run.

Stateless: functions over the storage ports (``matching.run_query``,
``sqlexec.execute``, ``searches.run_search``); the operations and the bulk
exports call them.
"""
