#!/usr/bin/env bash
# Deploy AppWarden into a resource group, in three phases:
#   1 infra   infra/main.bicep: identities, storage, monitoring, Key Vault,
#             Event Hub, Event Grid topics, Flex Consumption plan and app
#   2 code    the package (make package) through zip deploy
#   3 events  infra/eventsubscriptions.bicep: the Event Grid subscriptions,
#             which need the deployed function (Azure/bicep#11656)
# and two steps that need directory roles, run only when asked for:
#   graph        infra/graph-permissions.bicep: Graph app roles for the identity
#   diagnostics  infra/tenant/diagnostic-setting.bicep: Entra AuditLogs to the hub
#                (stream + pull mode only; pull mode has no hub)
# infra/README.md explains each phase and the role it needs.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: infra/deploy.sh -g <resource-group> [options]

Phases run in order: infra, code, events (the default), plus graph and
diagnostics when listed with --phases (they need Entra directory roles).

Options (each also read from the environment variable shown):
  -g, --resource-group NAME   resource group (APPWARDEN_RESOURCE_GROUP); created if missing
  -l, --location REGION       region for a new resource group and the tenant
                              deployment's metadata (APPWARDEN_LOCATION)
  -s, --subscription ID       Azure subscription (APPWARDEN_SUBSCRIPTION; default: az's current)
  -p, --parameters FILE       more main.bicep parameters, a JSON parameters file
                              (APPWARDEN_PARAMETERS); e.g. mode, tags, mailSender
      --phases LIST           comma-separated: infra,code,events,graph,diagnostics
                              (APPWARDEN_PHASES; default infra,code,events)
      --package FILE          the zip to deploy (APPWARDEN_PACKAGE; default dist/appwarden.zip)
      --skip-build            deploy --package as it is; do not run make package
      --existing-system-topic NAME
                              the Azure subscription already has its one
                              Microsoft.Resources.Subscriptions system topic:
                              use it (infra phase: createSystemTopic=false)
                              (APPWARDEN_EXISTING_SYSTEM_TOPIC)
      --existing-system-topic-group RG
                              its resource group (default: --resource-group)
                              (APPWARDEN_EXISTING_SYSTEM_TOPIC_GROUP)
      --all-register-actions  deliver every */register/action, not only
                              Microsoft.AAD/register/action (events phase)
      --audit-log-mode MODE   infra phase: how the Entra audit log is read
                              (APPWARDEN_AUDIT_LOG_MODE; main.bicep auditLogMode):
                              pull           Graph only: no Event Hub, no diagnostic
                                             setting (needs AuditLog.Read.All)
                              streamAndPull  Event Hub stream, and the pull closes its
                                             gaps (default; the diagnostics phase
                                             needs a Security Administrator)
      --graph-read-only       graph phase: Application.Read.All instead of
                              Application.ReadWrite.All (audit mode, scan dry runs)
      --enable-mail           graph phase: also grant Mail.Send
  -h, --help                  this help

Secrets never go on the command line. Set them in the environment:
  APPWARDEN_TEAMS_WEBHOOK_URL     Teams Workflows webhook for notices
  APPWARDEN_SECURITY_WEBHOOK_URL  Teams Workflows webhook for the security channel
They are written to a private temporary parameters file (mode 600, deleted
on exit) and stored in Key Vault by the infra phase. Leave them unset on
later runs to keep the secrets already in the vault.

Examples:
  infra/deploy.sh -g rg-appwarden -l westeurope
  infra/deploy.sh -g rg-appwarden -l westeurope --audit-log-mode pull
  infra/deploy.sh -g rg-appwarden --phases graph            # Privileged Role Administrator
  infra/deploy.sh -g rg-appwarden --phases diagnostics      # Security Administrator
EOF
}

die() { echo "deploy.sh: $*" >&2; exit 2; }
phase() { printf '\n== %s\n' "$*"; }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESOURCE_GROUP="${APPWARDEN_RESOURCE_GROUP:-}"
LOCATION="${APPWARDEN_LOCATION:-}"
SUBSCRIPTION="${APPWARDEN_SUBSCRIPTION:-}"
PARAMETERS="${APPWARDEN_PARAMETERS:-}"
PHASES="${APPWARDEN_PHASES:-infra,code,events}"
PACKAGE="${APPWARDEN_PACKAGE:-$REPO_ROOT/dist/appwarden.zip}"
EXISTING_TOPIC="${APPWARDEN_EXISTING_SYSTEM_TOPIC:-}"
EXISTING_TOPIC_GROUP="${APPWARDEN_EXISTING_SYSTEM_TOPIC_GROUP:-}"
AUDIT_LOG_MODE="${APPWARDEN_AUDIT_LOG_MODE:-}"
SKIP_BUILD=false
ALL_REGISTER=false
GRAPH_ACCESS=readWrite
ENABLE_MAIL=false

while [ $# -gt 0 ]; do
  case "$1" in
    -g|--resource-group) RESOURCE_GROUP="${2:?$1 needs a value}"; shift 2 ;;
    -l|--location) LOCATION="${2:?$1 needs a value}"; shift 2 ;;
    -s|--subscription) SUBSCRIPTION="${2:?$1 needs a value}"; shift 2 ;;
    -p|--parameters) PARAMETERS="${2:?$1 needs a value}"; shift 2 ;;
    --phases) PHASES="${2:?$1 needs a value}"; shift 2 ;;
    --package) PACKAGE="${2:?$1 needs a value}"; shift 2 ;;
    --existing-system-topic) EXISTING_TOPIC="${2:?$1 needs a value}"; shift 2 ;;
    --existing-system-topic-group) EXISTING_TOPIC_GROUP="${2:?$1 needs a value}"; shift 2 ;;
    --audit-log-mode) AUDIT_LOG_MODE="${2:?$1 needs a value}"; shift 2 ;;
    --skip-build) SKIP_BUILD=true; shift ;;
    --all-register-actions) ALL_REGISTER=true; shift ;;
    --graph-read-only) GRAPH_ACCESS=readOnly; shift ;;
    --enable-mail) ENABLE_MAIL=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[ -n "$RESOURCE_GROUP" ] || { usage >&2; die "--resource-group is required"; }
command -v az >/dev/null 2>&1 || die "the Azure CLI (az) is not installed"
if [ -n "$PARAMETERS" ] && [ ! -f "$PARAMETERS" ]; then die "parameters file $PARAMETERS not found"; fi
if [ -n "$EXISTING_TOPIC_GROUP" ] && [ -z "$EXISTING_TOPIC" ]; then die "--existing-system-topic-group needs --existing-system-topic"; fi
case "$AUDIT_LOG_MODE" in ""|pull|streamAndPull) ;; *) die "--audit-log-mode must be pull or streamAndPull, not $AUDIT_LOG_MODE" ;; esac

want() { case ",$PHASES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for p in ${PHASES//,/ }; do
  case "$p" in infra|code|events|graph|diagnostics) ;; *) die "unknown phase: $p" ;; esac
done
if [ "$AUDIT_LOG_MODE" = pull ] && want diagnostics; then
  die "--audit-log-mode pull deploys no Event Hub for the diagnostics phase to stream to: leave the phase out"
fi

SUB=()
if [ -n "$SUBSCRIPTION" ]; then SUB=(--subscription "$SUBSCRIPTION"); fi
azs() { az "$@" ${SUB[@]+"${SUB[@]}"}; }

INFRA_DEPLOYMENT=appwarden-infra
TMPDIR_DEPLOY="$(mktemp -d)"
trap 'rm -rf "$TMPDIR_DEPLOY"' EXIT
chmod 700 "$TMPDIR_DEPLOY"

# output NAME: a value from phase 1's outputs (the last appwarden-infra deployment).
output() {
  azs deployment group show -g "$RESOURCE_GROUP" -n "$INFRA_DEPLOYMENT" \
    --query "properties.outputs.$1.value" -o tsv
}

# secret_exists NAME: whether the vault from a previous run holds the secret
# (an ARM read of its metadata; no secret value is read).
secret_exists() {
  local vault
  vault="$(output keyVaultName 2>/dev/null)" || return 1
  [ -n "$vault" ] || return 1
  azs resource show -g "$RESOURCE_GROUP" --namespace Microsoft.KeyVault --parent "vaults/$vault" \
    --resource-type secrets -n "$1" --query id -o tsv >/dev/null 2>&1
}

echo "AppWarden deployment: resource group $RESOURCE_GROUP, phases $PHASES"

# ---------------------------------------------------------------- phase 1
if want infra; then
  phase "phase 1/3: infrastructure (infra/main.bicep)"
  if [ "$(azs group exists -n "$RESOURCE_GROUP")" != "true" ]; then
    [ -n "$LOCATION" ] || die "resource group $RESOURCE_GROUP does not exist: give --location to create it"
    echo "creating resource group $RESOURCE_GROUP in $LOCATION"
    azs group create -n "$RESOURCE_GROUP" -l "$LOCATION" --tags application=AppWarden -o none
  fi

  # Secrets go through a private parameters file, never argv.
  SECRETS_FILE="$TMPDIR_DEPLOY/secrets.parameters.json"
  teams_exists=false
  security_exists=false
  if [ -z "${APPWARDEN_TEAMS_WEBHOOK_URL:-}" ] && secret_exists appwarden-teams-webhook-url; then teams_exists=true; fi
  if [ -z "${APPWARDEN_SECURITY_WEBHOOK_URL:-}" ] && secret_exists appwarden-security-webhook-url; then security_exists=true; fi
  (
    umask 077
    json_string() { # JSON-encode stdin without external tools
      local s
      s="$(cat)"
      s="${s//\\/\\\\}"; s="${s//\"/\\\"}"
      s="${s//$'\n'/\\n}"; s="${s//$'\r'/\\r}"; s="${s//$'\t'/\\t}"
      printf '"%s"' "$s"
    }
    {
      printf '{\n  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",\n'
      printf '  "contentVersion": "1.0.0.0",\n  "parameters": {\n'
      printf '    "teamsWebhookUrl": {"value": %s},\n' "$(printf '%s' "${APPWARDEN_TEAMS_WEBHOOK_URL:-}" | json_string)"
      printf '    "securityWebhookUrl": {"value": %s},\n' "$(printf '%s' "${APPWARDEN_SECURITY_WEBHOOK_URL:-}" | json_string)"
      printf '    "teamsWebhookSecretExists": {"value": %s},\n' "$teams_exists"
      printf '    "securityWebhookSecretExists": {"value": %s}\n' "$security_exists"
      printf '  }\n}\n'
    } >"$SECRETS_FILE"
  )
  if [ -n "${APPWARDEN_TEAMS_WEBHOOK_URL:-}" ]; then echo "Teams webhook: from APPWARDEN_TEAMS_WEBHOOK_URL, stored in Key Vault"; fi
  if [ "$teams_exists" = true ]; then echo "Teams webhook: keeping the secret already in Key Vault"; fi
  if [ -n "${APPWARDEN_SECURITY_WEBHOOK_URL:-}" ]; then echo "security webhook: from APPWARDEN_SECURITY_WEBHOOK_URL, stored in Key Vault"; fi
  if [ "$security_exists" = true ]; then echo "security webhook: keeping the secret already in Key Vault"; fi

  EXTRA=()
  if [ -n "$PARAMETERS" ]; then EXTRA=(--parameters "@$PARAMETERS"); fi
  # After the parameters file, so the command line wins.
  if [ -n "$EXISTING_TOPIC" ]; then
    EXTRA+=(--parameters createSystemTopic=false existingSystemTopicName="$EXISTING_TOPIC"
      existingSystemTopicResourceGroup="${EXISTING_TOPIC_GROUP:-$RESOURCE_GROUP}")
    echo "system topic: using the existing $EXISTING_TOPIC in ${EXISTING_TOPIC_GROUP:-$RESOURCE_GROUP}"
  fi
  if [ -n "$AUDIT_LOG_MODE" ]; then
    EXTRA+=(--parameters auditLogMode="$AUDIT_LOG_MODE")
    echo "audit log: $AUDIT_LOG_MODE"
  fi
  azs deployment group create -g "$RESOURCE_GROUP" -n "$INFRA_DEPLOYMENT" \
    --template-file "$REPO_ROOT/infra/main.bicep" \
    ${EXTRA[@]+"${EXTRA[@]}"} --parameters "@$SECRETS_FILE" -o none
  rm -f "$SECRETS_FILE"
  echo "infrastructure deployed"
fi

# The later phases read phase 1's outputs (from this run or an earlier one).
FUNCTION_APP="$(output functionAppName || true)"
[ -n "$FUNCTION_APP" ] || die "no outputs from deployment $INFRA_DEPLOYMENT in $RESOURCE_GROUP: run the infra phase first"
PRINCIPAL_ID="$(output functionIdentityPrincipalId)"
# Deployments made before auditLogMode existed streamed the audit log.
DEPLOYED_AUDIT_MODE="$(output auditLogMode 2>/dev/null || true)"
DEPLOYED_AUDIT_MODE="${DEPLOYED_AUDIT_MODE:-streamAndPull}"

# ---------------------------------------------------------------- phase 2
if want code; then
  phase "phase 2/3: code package -> $FUNCTION_APP"
  if [ "$SKIP_BUILD" != true ]; then
    command -v make >/dev/null 2>&1 || die "make is not installed (or pass --skip-build --package FILE)"
    make -C "$REPO_ROOT" --no-print-directory package
    PACKAGE="$REPO_ROOT/dist/appwarden.zip"
  fi
  [ -f "$PACKAGE" ] || die "package $PACKAGE not found"
  # On Flex Consumption this uploads through the One Deploy endpoint
  # (/api/publish) to the deployment container, then waits for the trigger sync.
  azs functionapp deployment source config-zip -g "$RESOURCE_GROUP" -n "$FUNCTION_APP" --src "$PACKAGE" -o none
  echo "package deployed"
fi

# ---------------------------------------------------------------- phase 3
if want events; then
  phase "phase 3/3: Event Grid subscriptions (infra/eventsubscriptions.bicep)"
  SYSTEM_TOPIC="$(output systemTopicName)"
  # Deployments made before this output existed: the topic is in this group.
  SYSTEM_TOPIC_GROUP="$(output systemTopicResourceGroup || true)"
  SYSTEM_TOPIC_GROUP="${SYSTEM_TOPIC_GROUP:-$RESOURCE_GROUP}"
  if [ -z "$SYSTEM_TOPIC" ]; then
    echo "WARNING: no system topic (createSystemTopic=false without existingSystemTopicName):" >&2
    echo "  no Event Grid subscription for register actions; only the audit stream and the sweep find new apps" >&2
  fi
  CUSTOM_TOPIC="$(output customTopicName)"
  STORAGE="$(output storageAccountName)"
  DEAD_LETTER="$(output deadLetterContainerName)"
  EG_IDENTITY="$(output eventGridIdentityId)"
  # Event Grid validates the function endpoint when the subscription is
  # created; right after a deployment the function may not be listed yet.
  attempt=1
  until azs deployment group create -g "$RESOURCE_GROUP" -n appwarden-events \
      --template-file "$REPO_ROOT/infra/eventsubscriptions.bicep" \
      --parameters functionAppName="$FUNCTION_APP" systemTopicName="$SYSTEM_TOPIC" \
        systemTopicResourceGroup="$SYSTEM_TOPIC_GROUP" \
        customTopicName="$CUSTOM_TOPIC" storageAccountName="$STORAGE" \
        deadLetterContainerName="$DEAD_LETTER" eventGridIdentityId="$EG_IDENTITY" \
        matchAllRegisterActions="$ALL_REGISTER" -o none; do
    [ "$attempt" -lt 3 ] || die "the event subscriptions failed 3 times (is OnEventGridEvent deployed? az functionapp function list -g $RESOURCE_GROUP -n $FUNCTION_APP)"
    echo "retrying in 30 s (attempt $attempt failed)"
    sleep "${APPWARDEN_RETRY_SECONDS:-30}"
    attempt=$((attempt + 1))
  done
  echo "event subscriptions deployed"
fi

# ---------------------------------------------------------------- graph (explicit)
if want graph; then
  phase "Graph app roles (infra/graph-permissions.bicep; Privileged Role Administrator)"
  azs deployment group create -g "$RESOURCE_GROUP" -n appwarden-graph \
    --template-file "$REPO_ROOT/infra/graph-permissions.bicep" \
    --parameters principalId="$PRINCIPAL_ID" graphAccess="$GRAPH_ACCESS" enableMail="$ENABLE_MAIL" -o none
  echo "Graph app roles granted to $PRINCIPAL_ID ($GRAPH_ACCESS, AuditLog.Read.All, mail $ENABLE_MAIL)"
fi

# ---------------------------------------------------------------- diagnostics (explicit)
if want diagnostics && [ "$DEPLOYED_AUDIT_MODE" = pull ]; then
  die "the diagnostics phase streams the audit log to the Event Hub, which pull mode does not deploy: redeploy with --audit-log-mode streamAndPull first, or leave the phase out"
fi
if want diagnostics; then
  phase "Entra diagnostic setting (infra/tenant/diagnostic-setting.bicep; Security Administrator)"
  RULE_ID="$(output diagnosticsAuthorizationRuleId)"
  HUB="$(output auditEventHubName)"
  META_LOCATION="${LOCATION:-$(azs group show -n "$RESOURCE_GROUP" --query location -o tsv)}"
  az deployment tenant create -n appwarden-entra-diagnostics -l "$META_LOCATION" \
    --template-file "$REPO_ROOT/infra/tenant/diagnostic-setting.bicep" \
    --parameters eventHubAuthorizationRuleId="$RULE_ID" eventHubName="$HUB" -o none
  echo "Entra AuditLogs now stream to $HUB"
fi

# ---------------------------------------------------------------- what is left
STREAM_TODO=false
if ! want diagnostics && [ "$DEPLOYED_AUDIT_MODE" = streamAndPull ]; then STREAM_TODO=true; fi
if ! want graph || [ "$STREAM_TODO" = true ]; then
  phase "still to do (directory roles; see infra/README.md)"
  if ! want graph; then
    echo "Graph app roles (AuditLog.Read.All for the audit pull among them), as a Privileged Role Administrator:"
    echo "  infra/deploy.sh -g $RESOURCE_GROUP --phases graph"
    echo "  (the identity's object id is $PRINCIPAL_ID)"
  fi
  if [ "$STREAM_TODO" = true ]; then
    echo "Entra audit stream, as a Security Administrator or Global Administrator:"
    echo "  infra/deploy.sh -g $RESOURCE_GROUP --phases diagnostics"
  fi
fi
echo
echo "done"
