"""What the Bicep templates must say: they parse, checkov passes, and the structure is right.

No Bicep CLI and no Azure here: pycep-parser turns each template into JSON and the tests read
that (see conftest.py); checkov scans infra/ as CI does.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.settings import LOCAL_ONLY_SETTINGS, setting_names

from .bicep import (
    INFRA,
    bicep_files,
    body,
    description,
    evaluate,
    modules,
    reference,
    relative,
    resources,
    text,
)

#: The identity plumbing the Functions host needs for each identity-based connection when the
#: app runs as a user-assigned identity (not read by Smartby's code, so not in `Settings`).
HOST_IDENTITY_SETTINGS = frozenset(
    f"{connection}__{part}"
    for connection in ("COSMOS", "EVENTHUB", "IOTHUB", "AzureWebJobsStorage")
    for part in ("clientId", "credential")
)
#: Every setting the code reads that Azure must set: all of them but the local-only ones.
REQUIRED_SETTINGS = (frozenset(setting_names()) - LOCAL_ONLY_SETTINGS) | HOST_IDENTITY_SETTINGS

# Least-privilege roles the templates may assign (built-in role definition GUIDs).
ALLOWED_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "2b629674-e913-4c01-ae53-ef4638d8f975": "Azure Event Hubs Data Sender",
    "a638d3c7-ab3a-418d-83e6-5f17a39d4fde": "Azure Event Hubs Data Receiver",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4ea46cd5-c1b2-4a8e-910b-273211f9ce47": "IoT Hub Registry Contributor",
    "494bdba2-168f-4f31-a0a1-191d2f7c028c": "IoT Hub Twin Contributor",
    # Cosmos DB's own data-plane role (sqlRoleDefinitions), not an Azure RBAC role.
    "00000000-0000-0000-0000-000000000002": "Cosmos DB Built-in Data Contributor",
}
FORBIDDEN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

# Properties of an identity-based connection `<NAME>__<property>` (Functions host conventions).
IDENTITY_ENDPOINTS = {"fullyQualifiedNamespace", "accountEndpoint", "accountName", "vaultUri"}
IDENTITY_PROPERTIES = IDENTITY_ENDPOINTS | {
    "credential",
    "clientId",
    "blobServiceUri",
    "queueServiceUri",
    "tableServiceUri",
}
SECRET_MARKERS = ("accountkey=", "sharedaccesskey", "listkeys(", "connectionstring", "password")


# Resource types that support diagnostic settings and must have one.
DIAGNOSABLE = {
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Storage/storageAccounts/blobServices",
    "Microsoft.Storage/storageAccounts/queueServices",
    "Microsoft.Storage/storageAccounts/tableServices",
    "Microsoft.DocumentDB/databaseAccounts",
    "Microsoft.EventHub/namespaces",
    "Microsoft.Devices/IotHubs",
    "Microsoft.KeyVault/vaults",
    "Microsoft.NotificationHubs/namespaces",
    "Microsoft.Web/sites",
    "Microsoft.Web/serverfarms",
    "Microsoft.OperationalInsights/workspaces",
    # Microsoft.Insights/components is exempt: a workspace-based component already writes all
    # its telemetry to the workspace; a diagnostic setting would store it twice.
}


def app_settings(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return templates["app/function-app.bicep"]["variables"]["appSettings"]["value"]


# --- parsing and checkov -----------------------------------------------------------------------


def test_every_bicep_file_parses(parsed: dict[str, dict[str, Any]]) -> None:
    assert set(parsed) == {relative(path) for path in bicep_files()}
    failures = {path: entry["error"] for path, entry in parsed.items() if "error" in entry}
    assert not failures, "pycep-parser cannot parse:\n" + "\n".join(
        f"{path}: {error[:500]}" for path, error in failures.items()
    )


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    failed = checkov_report["results"].get("failed_checks", [])
    listed = sorted({f"{f['check_id']} {f['file_path']} {f['resource']}" for f in failed})
    assert summary["failed"] == 0 and not failed, "checkov failed checks:\n" + "\n".join(listed)
    assert summary["parsing_errors"] == 0, "checkov could not parse some templates"
    assert summary["resource_count"] > 50, "checkov scanned (almost) nothing"


def test_every_checkov_skip_gives_its_reason(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"].get("skipped_checks", [])
    unexplained = [
        f"{s['check_id']} {s['file_path']}"
        for s in skipped
        if len(s["check_result"].get("suppress_comment", "").strip()) < 20
        or s["check_result"]["suppress_comment"] == "No comment provided"
    ]
    assert not unexplained, "checkov skips without a reason: " + ", ".join(unexplained)


def test_every_skip_comment_in_the_sources_has_a_reason() -> None:
    skip = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    bad = []
    for path in bicep_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if match := skip.search(line):
                reason = (match.group(2) or "").strip()
                if len(reason) < 20:
                    bad.append(f"{relative(path)}:{number} {match.group(1)}")
    assert not bad, "checkov:skip without a reason: " + ", ".join(bad)


# --- module wiring (what `bicep build` would catch) ---------------------------------------------


def test_modules_get_the_parameters_they_declare(templates: dict[str, dict[str, Any]]) -> None:
    problems = []
    for path, template in templates.items():
        for symbol, declaration in modules(template).items():
            target = relative((INFRA / path).parent / declaration["detail"]["path"])
            assert target in templates, f"{path}: module {symbol} -> missing {target}"
            declared = templates[target]["parameters"]
            passed = set(body(declaration).get("params", {}))
            required = {n for n, p in declared.items() if p.get("default") is None}
            if unknown := passed - set(declared):
                problems.append(f"{path}: {symbol} passes unknown {sorted(unknown)}")
            if missing := required - passed:
                problems.append(f"{path}: {symbol} misses required {sorted(missing)}")
    assert not problems, "\n".join(problems)


def test_module_outputs_used_exist(templates: dict[str, dict[str, Any]]) -> None:
    problems = []
    for path, template in templates.items():
        targets = {
            symbol: relative((INFRA / path).parent / declaration["detail"]["path"])
            for symbol, declaration in modules(template).items()
        }
        source = (INFRA / path).read_text()
        for symbol, output in re.findall(r"\b(\w+)\.outputs\.(\w+)", source):
            if symbol in targets and output not in templates[targets[symbol]].get("outputs", {}):
                problems.append(
                    f"{path}: {symbol}.outputs.{output} is not an output of {targets[symbol]}"
                )
    assert not problems, "\n".join(problems)


# --- AVM conventions ---------------------------------------------------------------------------


def test_every_file_has_metadata(templates: dict[str, dict[str, Any]]) -> None:
    missing = [
        path
        for path, template in templates.items()
        if not {"name", "description"} <= set(template.get("metadata", {}))
    ]
    assert not missing, f"metadata name/description missing in {missing}"


def test_every_parameter_is_described_as_required_or_optional(
    templates: dict[str, dict[str, Any]],
) -> None:
    bad = []
    for path, template in templates.items():
        for name, param in template.get("parameters", {}).items():
            text = description(param["decorators"]) or ""
            if not re.match(r"^(Required|Optional|Conditional)\. \S", text):
                bad.append(f"{path}: {name}")
            if not re.fullmatch(r"[a-z][A-Za-z0-9]*", name):
                bad.append(f"{path}: {name} is not camelCase")
    assert not bad, "parameters without an AVM description: " + ", ".join(bad)


def test_every_output_is_described(templates: dict[str, dict[str, Any]]) -> None:
    bad = [
        f"{path}: {name}"
        for path, template in templates.items()
        for name, output in template.get("outputs", {}).items()
        if not description(output["decorators"])
    ]
    assert not bad, "outputs without a description: " + ", ".join(bad)


def test_main_outputs_name_resource_id_and_principal_id(
    templates: dict[str, dict[str, Any]],
) -> None:
    assert {"name", "resourceId", "principalId"} <= set(templates["main.bicep"]["outputs"])
    assert {"name", "resourceId", "principalId"} <= set(templates["tenant.bicep"]["outputs"])


def test_the_tenant_module_describes_all_its_parameters(
    templates: dict[str, dict[str, Any]],
) -> None:
    for path in ("modules/tenant.bicep", "tenant.bicep"):
        params = templates[path]["parameters"]
        assert {"tenantId", "tenantName", "kommunenummer", "budgetAmount", "contactEmails"} <= set(
            params
        ), path
        undescribed = [name for name, p in params.items() if not description(p["decorators"])]
        assert not undescribed, f"{path}: {undescribed}"


def test_a_redeployment_computes_nothing_from_the_clock() -> None:
    """`utcNow()` in a parameter default makes a deployment depend on when it runs: a budget's
    start date would move each month, which Azure refuses, so every redeploy would fail."""
    clocked = [relative(path) for path in bicep_files() if "utcNow(" in path.read_text()]
    assert not clocked


def test_the_tenant_entry_passes_the_budget_start_through(
    templates: dict[str, dict[str, Any]],
) -> None:
    params = body(modules(templates["tenant.bicep"])["tenant"])["params"]
    assert text(params["budgetStartDate"]) == "budgetStartDate"


# --- app settings --------------------------------------------------------------------------------


def test_app_settings_set_everything_the_code_reads(templates: dict[str, dict[str, Any]]) -> None:
    missing = REQUIRED_SETTINGS - set(app_settings(templates))
    assert not missing, f"app settings the code reads but the template does not set: {missing}"


def test_app_settings_choose_the_azure_adapters(templates: dict[str, dict[str, Any]]) -> None:
    settings = app_settings(templates)
    assert settings["SMARTBY_STORE"] == "cosmos"
    assert settings["SMARTBY_BUS"] == "eventhub"
    assert settings["SMARTBY_KEYSTORE"] == "keyvault"
    assert settings["SMARTBY_LOG_FORMAT"] == "json"
    params = templates["app/function-app.bicep"]["parameters"]
    assert params["cosmosDatabaseName"]["default"] == "smartby"
    assert params["observationsHubName"]["default"] == "observations"
    assert params["alertsHubName"]["default"] == "alerts"
    assert params["iotConsumerGroupName"]["default"] == "ingest"


def test_no_key_or_connection_string_in_app_settings(templates: dict[str, dict[str, Any]]) -> None:
    leaks = []
    for name, value in app_settings(templates).items():
        lowered = text(value).lower()
        if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            continue  # an ingestion address; ingestion needs Entra ID (local auth disabled)
        if lowered.startswith("@microsoft.keyvault("):
            continue  # a reference: the secret stays in Key Vault
        if (
            any(marker in lowered for marker in SECRET_MARKERS)
            or "connectionstring" in name.lower()
        ):
            leaks.append(name)
    assert not leaks, f"app settings carrying a key or connection string: {leaks}"
    # ...nor in what main.bicep passes into the app module.
    module = body(modules(templates["main.bicep"])["functionApp"])
    for name, value in module["params"].items():
        lowered = text(value).lower()
        if name == "applicationInsightsConnectionString":
            continue
        assert not any(marker in lowered for marker in SECRET_MARKERS), name


def test_secrets_come_through_key_vault_references(templates: dict[str, dict[str, Any]]) -> None:
    settings = app_settings(templates)
    admin = text(settings["SMARTBY_ADMIN_KEY"])
    assert admin.startswith("@Microsoft.KeyVault(SecretUri=")
    assert "smartby-admin-key" in admin or "adminKeySecretName" in admin
    params = templates["app/function-app.bicep"]["parameters"]
    assert params["adminKeySecretName"]["default"] == "smartby-admin-key"
    site = body(templates["app/function-app.bicep"]["resources"]["functionApp"])
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityResourceId"


def test_every_connection_is_identity_based(templates: dict[str, dict[str, Any]]) -> None:
    settings = app_settings(templates)
    connections: dict[str, dict[str, Any]] = {}
    for name, value in settings.items():
        if "__" in name:
            prefix, prop = name.split("__", 1)
            connections.setdefault(prefix, {})[prop] = value
    assert {"COSMOS", "EVENTHUB", "IOTHUB", "KEYVAULT", "AzureWebJobsStorage"} <= set(connections)
    for prefix, props in connections.items():
        if prefix == "NOTIFICATIONHUB":
            # Notification Hubs has no Microsoft Entra data plane; its Send-only key arrives as a
            # Key Vault reference (NOTIFICATIONHUB_CONNECTION), checked above.
            assert set(props) == {"namespace"}
            continue
        assert set(props) <= IDENTITY_PROPERTIES, f"{prefix}: {set(props) - IDENTITY_PROPERTIES}"
        assert set(props) & IDENTITY_ENDPOINTS, f"{prefix} has no identity-based endpoint"
        if "credential" in props:
            assert props["credential"] == "managedidentity", prefix
            assert "clientId" in props, f"{prefix}: a user-assigned identity needs __clientId"


def test_app_insights_ingestion_uses_entra_id(templates: dict[str, dict[str, Any]]) -> None:
    settings = app_settings(templates)
    assert "Authorization=AAD" in text(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])
    component = body(templates["modules/monitoring.bicep"]["resources"]["applicationInsights"])
    assert component["properties"]["DisableLocalAuth"] is True
    assert component["properties"]["WorkspaceResourceId"]


# --- function app --------------------------------------------------------------------------------


def test_function_app_runs_python_3_11_on_flex_consumption(
    templates: dict[str, dict[str, Any]],
) -> None:
    app = templates["app/function-app.bicep"]["resources"]
    plan = body(app["plan"])
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = body(app["functionApp"])
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["properties"]["httpsOnly"] is True


def test_storage_allows_no_shared_key(templates: dict[str, dict[str, Any]]) -> None:
    account = body(templates["modules/storage.bicep"]["resources"]["storageAccount"])
    assert account["properties"]["allowSharedKeyAccess"] is False
    assert account["properties"]["allowBlobPublicAccess"] is False


def test_local_auth_is_disabled_everywhere_it_can_be(templates: dict[str, dict[str, Any]]) -> None:
    cosmos = body(templates["modules/cosmos.bicep"]["resources"]["account"])
    assert cosmos["properties"]["disableLocalAuth"] is True
    namespace = body(templates["modules/event-hubs.bicep"]["resources"]["namespace"])
    assert namespace["properties"]["disableLocalAuth"] is True
    vault = body(templates["modules/key-vault.bicep"]["resources"]["vault"])["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enablePurgeProtection"] is True
    assert vault["enableSoftDelete"] is True


# --- IoT Hub and Event Hubs ----------------------------------------------------------------------


def test_iot_hub_routes_telemetry_with_the_tenant_enrichment(
    templates: dict[str, dict[str, Any]],
) -> None:
    hub = body(templates["modules/iot-hub.bicep"]["resources"]["iotHub"])
    routing = hub["properties"]["routing"]
    [endpoint] = routing["endpoints"]["eventHubs"]
    assert endpoint["authenticationType"] == "identityBased"
    assert "userAssignedIdentity" in endpoint["identity"]
    assert "connectionString" not in endpoint
    [route] = routing["routes"]
    assert route["source"] == "DeviceMessages" and route["isEnabled"] is True
    [enrichment] = routing["enrichments"]
    assert enrichment["key"] == "tenant"
    assert enrichment["value"] == "$twin.tags.tenant"
    assert enrichment["endpointNames"] == route["endpointNames"]


def test_event_hubs_and_one_consumer_group_per_consumer(
    templates: dict[str, dict[str, Any]],
) -> None:
    module = body(modules(templates["main.bicep"])["eventHubs"])
    hubs = {hub["name"]: hub for hub in module["params"]["eventHubs"]}
    variables = templates["main.bicep"]["variables"]
    names = {variables[name]["value"]: hub for name, hub in hubs.items()}
    assert set(names) == {"observations", "alerts", "iothub-telemetry"}
    assert names["observations"]["consumerGroups"] == ["rules"]
    assert names["alerts"]["consumerGroups"] == ["notify"]
    assert names["iothub-telemetry"]["consumerGroups"] == ["ingest"]


def test_each_identity_gets_only_the_event_hubs_roles_its_code_uses(
    templates: dict[str, dict[str, Any]],
) -> None:
    """The app sends observations and receives IoT Hub's telemetry; nothing of it consumes
    observations or touches alerts yet. IoT Hub only sends, to its own hub."""
    module = body(modules(templates["main.bicep"])["eventHubs"])
    variables = templates["main.bicep"]["variables"]
    granted = {
        (variables[hub["name"]]["value"], reference(a["principalId"]),
         reference(a["roleDefinitionId"]))
        for hub in module["params"]["eventHubs"]
        for a in hub["roleAssignments"]
    }
    app, iot = "functionIdentity.outputs.principalId", "iotHubIdentity.outputs.principalId"
    assert granted == {
        ("observations", app, "roles.eventHubsDataSender"),
        ("iothub-telemetry", app, "roles.eventHubsDataReceiver"),
        ("iothub-telemetry", iot, "roles.eventHubsDataSender"),
    }


@pytest.mark.parametrize(
    ("base", "reserved", "maximum"),
    [(1000, 0, 1000), (4000, 1500, 6000), (1000, 2000, 3000), (1500, 1, 2000)],
)
def test_the_shared_autoscale_maximum_is_a_whole_thousand(
    templates: dict[str, dict[str, Any]], base: int, reserved: int, maximum: int
) -> None:
    """Cosmos takes autoscale maxima in steps of 1000 RU/s; tenants reserve any amount."""
    expression = templates["modules/cosmos.bicep"]["variables"]["sharedMaxThroughput"]["value"]
    names = {"autoscaleMaxThroughput": base, "tenantReservedMaxThroughput": reserved}
    assert evaluate(expression, names) == maximum


# --- Cosmos DB -----------------------------------------------------------------------------------


def test_cosmos_defaults_are_serverless_and_the_smartby_database(
    templates: dict[str, dict[str, Any]],
) -> None:
    cosmos = templates["modules/cosmos.bicep"]
    assert cosmos["parameters"]["databaseName"]["default"] == "smartby"
    assert cosmos["parameters"]["capacityMode"]["default"] == "serverless"


def test_cosmos_data_role_is_scoped_to_the_database(templates: dict[str, dict[str, Any]]) -> None:
    assignment = body(templates["modules/cosmos.bicep"]["resources"]["dataContributorAssignments"])
    assert "/dbs/" in assignment["properties"]["scope"]
    assert assignment["name"]["function"]["type"] == "guid"
    assert (
        assignment["properties"]["scope"]
        in assignment["name"]["function"]["parameters"]["base_string"]
    )


# --- roles and diagnostics -----------------------------------------------------------------------


def test_only_least_privilege_roles_are_assigned() -> None:
    found: dict[str, set[str]] = {}
    for path in bicep_files():
        for guid in GUID.findall(path.read_text()):
            found.setdefault(guid.lower(), set()).add(relative(path))
    forbidden = {FORBIDDEN_ROLES[g]: files for g, files in found.items() if g in FORBIDDEN_ROLES}
    assert not forbidden, f"broad roles assigned: {forbidden}"
    unknown = {g: files for g, files in found.items() if g not in ALLOWED_ROLES}
    assert not unknown, f"role definitions outside the least-privilege allow-list: {unknown}"
    assert "b86a8fe4-44ce-4948-aee5-eccb2c155cd7" in found  # tenant vault: the API writes keys


def test_role_assignments_are_named_from_scope_principal_and_role(
    templates: dict[str, dict[str, Any]],
) -> None:
    count = 0
    for path, template in templates.items():
        for name, resource in resources(template).items():
            if resource["type"] != "Microsoft.Authorization/roleAssignments":
                continue
            count += 1
            assignment = body(resource)
            guid = assignment["name"]["function"]
            assert guid["type"] == "guid", f"{path}: {name}"
            args = [text(v) for v in guid["parameters"].values() if v is not None]
            assert len(args) == 3, f"{path}: {name} guid() needs scope, principal and role"
            assert "principalId" in args[1] and "roleDefinitionId" in args[2], f"{path}: {name}"
            role = text(assignment["properties"]["roleDefinitionId"])
            assert "Microsoft.Authorization/roleDefinitions" in role, f"{path}: {name}"
    assert count >= 5


def test_every_resource_that_supports_it_has_diagnostic_settings(
    templates: dict[str, dict[str, Any]],
) -> None:
    missing = []
    for path, template in templates.items():
        res = resources(template)
        scoped = {
            text(body(r).get("scope"))
            for r in res.values()
            if r["type"] == "Microsoft.Insights/diagnosticSettings"
        }
        for name, resource in res.items():
            if resource["type"] in DIAGNOSABLE and not resource["existing"] and name not in scoped:
                missing.append(f"{path}: {name} ({resource['type']})")
    assert not missing, "resources without diagnostic settings:\n" + "\n".join(missing)


# --- parameter files -----------------------------------------------------------------------------

PARAM = re.compile(r"^param\s+(\w+)\s*=", re.MULTILINE)
USING = re.compile(r"^using\s+'([^']+)'", re.MULTILINE)


def declared_params(templates: dict[str, dict[str, Any]], template: str) -> set[str]:
    return set(templates[template]["parameters"])


def test_region_parameter_files_fit_main(templates: dict[str, dict[str, Any]]) -> None:
    for environment in ("dev", "prod"):
        path = INFRA / f"main.{environment}.bicepparam"
        text = path.read_text()
        assert USING.search(text).group(1) == "./main.bicep"
        unknown = set(PARAM.findall(text)) - declared_params(templates, "main.bicep")
        assert not unknown, f"{path.name}: {unknown}"


def test_tenant_parameter_files_fit_the_tenant_entry(templates: dict[str, dict[str, Any]]) -> None:
    files = sorted((INFRA / "tenants").glob("*.bicepparam"))
    assert {f.stem for f in files} >= {"sandefjord", "drammen"}
    for path in files:
        text = path.read_text()
        assert USING.search(text).group(1) == "../tenant.bicep", path.name
        names = set(PARAM.findall(text))
        assert names <= declared_params(templates, "tenant.bicep"), path.name
        assert f"param tenantId = '{path.stem}'" in text, path.name
    assert "param kommunenummer = '3907'" in (INFRA / "tenants/sandefjord.bicepparam").read_text()
    assert "param kommunenummer = '3301'" in (INFRA / "tenants/drammen.bicepparam").read_text()


def test_vault_name_convention_matches_the_app_setting_template(
    templates: dict[str, dict[str, Any]],
) -> None:
    naming = templates["modules/naming.bicep"]
    template = naming["variables"]["tenantVaultNameTemplate"]["value"]
    assert template.startswith("kv-{tenant}-")
    assert naming["parameters"]["tenantId"]["decorators"][-1] == {
        "type": "max_length",
        "argument": 14,
    }
    main = (INFRA / "main.bicep").read_text()
    assert "https://${naming.outputs.tenantVaultNameTemplate}" in main


def _bicep_ttl(value: Any) -> int | None:
    """pycep writes `-1` as a unary minus expression."""
    if isinstance(value, dict):
        return -value["operator"]["operands"]["integer_value"]
    return value


def test_cosmos_containers_are_the_ones_the_code_uses(
    templates: dict[str, dict[str, Any]],
) -> None:
    from shared.store import CONTAINERS

    declared = {
        c["name"]: c for c in templates["modules/cosmos.bicep"]["variables"]["containers"]["value"]
    }
    assert set(declared) == {spec.name for spec in CONTAINERS}
    for spec in CONTAINERS:
        container = declared[spec.name]
        assert container["partitionKey"] == f"/{spec.partition_key}", spec.name
        assert _bicep_ttl(container.get("defaultTtl")) == spec.default_ttl, spec.name
        policy = container["indexingPolicy"]
        if policy == "defaultIndexing":
            continue  # every path indexed
        included = {p["path"] for p in policy["includedPaths"]}
        missing = {f"/{name}/?" for name in spec.indexed} - included
        assert not missing, f"{spec.name}: queried fields not indexed in Azure: {missing}"
