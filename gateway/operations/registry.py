"""The operation registry: one name → handler table for ``POST /``.

Each family module (``tables``, ``records``, ``users`` …) registers its handlers
with the ``@operation`` decorator. Handlers are synchronous (the store blocks),
take ``(ctx, body)`` and return a JSON-serialisable answer or raise
``OperationError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from gateway.auth.users import User
from gateway.process import Gateway

TablePermission = Literal["read", "insert", "update", "delete"]


@dataclass
class OperationContext:
    """What a handler gets besides the request body."""

    gateway: Gateway
    user: User
    client_ip: str = ""
    auth_header: str | None = None


Handler = Callable[[OperationContext, dict[str, Any]], Any]

Inline = bool | Callable[[dict[str, Any]], bool]
"""Whether a call may run on the event loop (where the store's reads are cheap and local): ``True``
for an operation whose work is always small, or a test of the body that bounds it (``few_ids``)."""


@dataclass(frozen=True)
class OperationSpec:
    """A registered operation and its authorisation rule."""

    name: str
    handler: Handler
    super_user: bool
    internal_name: str
    permission: TablePermission | None
    needs_auth: bool = True
    inline: Inline = False

    def runs_inline(self, body: dict[str, Any]) -> bool:
        """Whether this call is small enough to run on the event loop (see :data:`Inline`)."""
        return self.inline(body) if callable(self.inline) else self.inline


OPERATIONS: dict[str, OperationSpec] = {}


def operation(
    name: str,
    *,
    super_user: bool = False,
    internal_name: str | None = None,
    permission: TablePermission | None = None,
    aliases: tuple[str, ...] = (),
    needs_auth: bool = True,
    inline: Inline = False,
) -> Callable[[Handler], Handler]:
    """Register a handler under ``name`` (and ``aliases``).

    ``super_user``: only super users may call it (403 names ``internal_name``).
    ``permission``: the table permission a non-super user needs on the body's
    ``database``/``table``. ``inline``: cheap and bounded, answered without a worker thread on a
    backend whose reads are local (:data:`Inline`).
    """

    def register(handler: Handler) -> Handler:
        for op_name in (name, *aliases):
            if op_name in OPERATIONS:
                raise ValueError(f"operation {op_name!r} registered twice")
            OPERATIONS[op_name] = OperationSpec(
                name=op_name,
                handler=handler,
                super_user=super_user,
                internal_name=internal_name or _camel(name),
                permission=permission,
                needs_auth=needs_auth,
                inline=inline,
            )
        return handler

    return register


INLINE_MAX_IDS = 100
"""The most ids (and attribute names) a ``search_by_id`` may ask for and still run on the event loop."""


def few_ids(body: dict[str, Any]) -> bool:
    """An :data:`Inline` test: the body's ``ids`` (``hash_values``) and ``get_attributes`` are at most
    :data:`INLINE_MAX_IDS` each (a body that is not a list there fails its checks at once)."""
    ids, names = body.get("ids"), body.get("get_attributes")
    return not (isinstance(ids, list) and len(ids) > INLINE_MAX_IDS) and not (
        isinstance(names, list) and len(names) > INLINE_MAX_IDS
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


# Operations HarperDB 4.x knows. Those this gateway does not register answer
# 400 "Operation '<name>' is not supported by this server"; any other name
# answers HarperDB's "Operation '<name>' not found".
HARPERDB_OPERATIONS: frozenset[str] = frozenset(
    [
        "add_component",
        "add_custom_function_project",
        "add_node",
        "add_role",
        "add_ssh_key",
        "add_user",
        "alter_role",
        "alter_user",
        "cluster_get_routes",
        "cluster_network",
        "cluster_set_routes",
        "cluster_delete_routes",
        "cluster_status",
        "configure_cluster",
        "create_attribute",
        "create_authentication_tokens",
        "create_csr",
        "create_database",
        "create_schema",
        "create_table",
        "csv_data_load",
        "csv_file_load",
        "csv_url_load",
        "delete",
        "delete_audit_logs_before",
        "delete_records_before",
        "delete_transaction_logs_before",
        "deploy",
        "deploy_component",
        "deploy_custom_function_project",
        "describe_all",
        "describe_database",
        "describe_schema",
        "describe_table",
        "drop_attribute",
        "drop_component",
        "drop_custom_function",
        "drop_custom_function_project",
        "drop_database",
        "drop_role",
        "drop_schema",
        "drop_table",
        "drop_user",
        "export_local",
        "export_to_s3",
        "get_analytics",
        "get_backup",
        "get_component_file",
        "get_components",
        "get_configuration",
        "get_custom_function",
        "get_custom_functions",
        "get_fingerprint",
        "get_job",
        "get_key",
        "get_metrics",
        "get_ssh_key",
        "get_status",
        "import_from_s3",
        "insert",
        "install_node_modules",
        "list_metrics",
        "list_roles",
        "list_ssh_keys",
        "list_users",
        "package_component",
        "package_custom_function_project",
        "purge_stream",
        "read_audit_log",
        "read_log",
        "read_transaction_log",
        "refresh_operation_token",
        "registration_info",
        "remove_node",
        "restart",
        "restart_service",
        "search",
        "search_by_conditions",
        "search_by_hash",
        "search_by_id",
        "search_by_value",
        "search_jobs_by_start_date",
        "set_component_file",
        "set_configuration",
        "set_custom_function",
        "set_license",
        "set_node_replication",
        "set_status",
        "sign_certificate",
        "sql",
        "system_information",
        "update",
        "update_node",
        "update_ssh_key",
        "upsert",
        "user_info",
        "add_certificate",
        "list_certificates",
        "remove_certificate",
        "get_backup",
        "cluster_get_routes",
        "drop_component",
        "set_node",
        "add_node_back",
        "clear_status",
        "install_usage_license",
        "get_usage_licenses",
        # documented in HarperDB's operations reference (tests/operations/harperdb_reference.json)
        "custom_functions_status",
        "get_ssh_known_hosts",
        "set_ssh_known_hosts",
        "delete_ssh_key",
    ]
)
