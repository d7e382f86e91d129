#!/usr/bin/env bash
# One whole SQS scenario against shmq's HTTP gateway with the AWS CLI.
#
#   aws_cli.sh ENDPOINT standard|fifo
#
# Fails (non-zero, naming the step) on any mismatch; fails loudly when the
# aws command is missing (scripts/install-deps.sh installs Debian's awscli
# when the machine has none).
set -euo pipefail
ENDPOINT="$1"
PART="$2"
if ! command -v aws >/dev/null 2>&1; then
  echo "aws_cli.sh: FAIL: the aws CLI is not on PATH (run scripts/install-deps.sh)" >&2
  exit 1
fi
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
sqs() { aws --endpoint-url "$ENDPOINT" --output text sqs "$@"; }
expect() {  # expect WHAT EXPECTED ACTUAL
  if [[ "$2" != "$3" ]]; then
    echo "aws_cli.sh: FAIL: $1: expected [$2], got [$3]" >&2
    exit 1
  fi
}
expect_error() {  # expect_error WHAT CODE command...
  local what="$1" code="$2" out
  shift 2
  if out=$("$@" 2>&1); then
    echo "aws_cli.sh: FAIL: $what: expected error $code, got success: $out" >&2
    exit 1
  fi
  if [[ "$out" != *"($code)"* ]]; then
    echo "aws_cli.sh: FAIL: $what: expected error $code, got: $out" >&2
    exit 1
  fi
}
aws --version
P="cli$(( $(date +%s%N) / 1000000 % 100000 ))"

if [[ "$PART" == fifo ]]; then
  Q=$(sqs create-queue --queue-name "$P.fifo" --attributes FifoQueue=true,ContentBasedDeduplication=true --query QueueUrl)
  ID1=$(sqs send-message --queue-url "$Q" --message-body a1 --message-group-id A --query MessageId)
  sqs send-message --queue-url "$Q" --message-body a2 --message-group-id A >/dev/null
  sqs send-message --queue-url "$Q" --message-body b1 --message-group-id B >/dev/null
  ID1B=$(sqs send-message --queue-url "$Q" --message-body a1 --message-group-id A --query MessageId)
  expect "deduplication" "$ID1" "$ID1B"
  BODIES=$(sqs receive-message --queue-url "$Q" --max-number-of-messages 10 --wait-time-seconds 1 \
           --query 'Messages[].Body' | tr '\t' ' ')
  [[ "$BODIES" == *"a1 a2"* && "$BODIES" == *b1* ]] || { echo "aws_cli.sh: FAIL: FIFO receive: [$BODIES]" >&2; exit 1; }
  sqs send-message --queue-url "$Q" --message-body a3 --message-group-id A >/dev/null
  expect "group A stays locked while in flight" "None" \
    "$(sqs receive-message --queue-url "$Q" --max-number-of-messages 10 --wait-time-seconds 1 --query 'Messages[0].Body')"
  sqs delete-queue --queue-url "$Q"
  echo "scenario aws-cli/fifo: OK"
  exit 0
fi

DLQ=$(sqs create-queue --queue-name "$P-dlq" --query QueueUrl)
DLQ_ARN=$(sqs get-queue-attributes --queue-url "$DLQ" --attribute-names QueueArn --query Attributes.QueueArn)
expect "DLQ ARN" "arn:aws:sqs:us-east-1:000000000000:$P-dlq" "$DLQ_ARN"
Q=$(sqs create-queue --queue-name "$P-main" --tags team=shmq --query QueueUrl)
expect "queue URL" "$ENDPOINT/000000000000/$P-main" "$Q"
expect "get-queue-url" "$Q" "$(sqs get-queue-url --queue-name "$P-main" --query QueueUrl)"

# A batch with attributes; the CLI's botocore does not check MD5s, so compare with md5sum.
OUT=$(sqs send-message-batch --queue-url "$Q" --query 'Successful[].[Id,MD5OfMessageBody]' --entries \
  '[{"Id":"e1","MessageBody":"one","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}}},
    {"Id":"e2","MessageBody":"two"},{"Id":"e3","MessageBody":"three"}]')
expect "batch MD5 of e1" "$(printf one | md5sum | cut -d' ' -f1)" "$(awk '$1=="e1"{print $2}' <<<"$OUT")"
MD5A=$(sqs send-message --queue-url "$Q" --message-body four \
  --message-attributes '{"attribName1":{"DataType":"String","StringValue":"attribValue 1"}}' --query MD5OfMessageAttributes)
expect "MD5OfMessageAttributes (SQS.md test vector)" "19e27d4e946b072f3f58da80d94fd778" "$MD5A"

BODIES=""
HANDLES=()
for _ in 1 2 3 4 5; do
  while IFS=$'\t' read -r body handle; do
    [[ -z "$body" || "$body" == None ]] && continue
    BODIES+="$body "
    HANDLES+=("$handle")
  done < <(sqs receive-message --queue-url "$Q" --max-number-of-messages 10 --wait-time-seconds 1 \
           --query 'Messages[].[Body,ReceiptHandle]')
  [[ ${#HANDLES[@]} -ge 4 ]] && break
done
expect "received" "four one three two" "$(tr ' ' '\n' <<<"$BODIES" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')"

sqs change-message-visibility --queue-url "$Q" --receipt-handle "${HANDLES[0]}" --visibility-timeout 0
AGAIN=$(sqs receive-message --queue-url "$Q" --wait-time-seconds 2 --attribute-names All \
        --query 'Messages[0].[Attributes.ApproximateReceiveCount,ReceiptHandle]')
expect "receive count after visibility 0" 2 "$(cut -f1 <<<"$AGAIN")"
HANDLES[0]=$(cut -f2 <<<"$AGAIN")
sqs delete-message --queue-url "$Q" --receipt-handle "${HANDLES[0]}"
for h in "${HANDLES[@]:1}"; do sqs delete-message --queue-url "$Q" --receipt-handle "$h"; done
expect_error "garbage receipt handle" ReceiptHandleIsInvalid \
  sqs delete-message --queue-url "$Q" --receipt-handle garbage

# Long poll: parked, then woken by a send.
START=$(date +%s%N)
sqs receive-message --queue-url "$Q" --wait-time-seconds 10 --query 'Messages[0].[Body,ReceiptHandle]' >"${TMPDIR:-/tmp}/poll.$$" &
POLL=$!
sleep 1
sqs send-message --queue-url "$Q" --message-body "wake up" >/dev/null
wait $POLL
ELAPSED_MS=$(( ($(date +%s%N) - START) / 1000000 ))
expect "long-poll body" "wake up" "$(cut -f1 "${TMPDIR:-/tmp}/poll.$$")"
(( ELAPSED_MS < 8000 )) || { echo "aws_cli.sh: FAIL: long poll took ${ELAPSED_MS} ms" >&2; exit 1; }
H=$(cut -f2 "${TMPDIR:-/tmp}/poll.$$")
rm -f "${TMPDIR:-/tmp}/poll.$$"

# DLQ and a move task back.
sqs set-queue-attributes --queue-url "$Q" \
  --attributes "{\"RedrivePolicy\":\"{\\\"deadLetterTargetArn\\\":\\\"$DLQ_ARN\\\",\\\"maxReceiveCount\\\":\\\"1\\\"}\"}"
sqs change-message-visibility --queue-url "$Q" --receipt-handle "$H" --visibility-timeout 1
N=0
for _ in $(seq 40); do
  N=$(sqs get-queue-attributes --queue-url "$DLQ" --attribute-names ApproximateNumberOfMessages \
      --query Attributes.ApproximateNumberOfMessages)
  [[ "$N" == 1 ]] && break
  sleep 0.25
done
expect "message in the DLQ" 1 "$N"
expect "dead-letter sources" "$Q" "$(sqs list-dead-letter-source-queues --queue-url "$DLQ" --query 'queueUrls[0]')"
TASK=$(sqs start-message-move-task --source-arn "$DLQ_ARN" --max-number-of-messages-per-second 10 --query TaskHandle)
[[ -n "$TASK" ]] || { echo "aws_cli.sh: FAIL: no task handle" >&2; exit 1; }
STATUS=""
for _ in $(seq 40); do
  STATUS=$(sqs list-message-move-tasks --source-arn "$DLQ_ARN" --query 'Results[0].Status')
  [[ "$STATUS" == COMPLETED ]] && break
  sleep 0.25
done
expect "move task" COMPLETED "$STATUS"
expect "redriven back" "wake up" "$(sqs receive-message --queue-url "$Q" --wait-time-seconds 5 --query 'Messages[0].Body')"

sqs tag-queue --queue-url "$Q" --tags env=test
sqs untag-queue --queue-url "$Q" --tag-keys team
expect "tags" "test" "$(sqs list-queue-tags --queue-url "$Q" --query Tags.env)"
sqs add-permission --queue-url "$Q" --label peer --aws-account-ids 111122223333 --actions SendMessage
sqs remove-permission --queue-url "$Q" --label peer
sqs purge-queue --queue-url "$Q"
expect_error "purge twice" AWS.SimpleQueueService.PurgeQueueInProgress sqs purge-queue --queue-url "$Q"
expect_error "receive 11" InvalidParameterValue sqs receive-message --queue-url "$Q" --max-number-of-messages 11
sqs delete-queue --queue-url "$Q"
sqs delete-queue --queue-url "$DLQ"
expect_error "deleted queue" AWS.SimpleQueueService.NonExistentQueue sqs get-queue-url --queue-name "$P-main"
echo "scenario aws-cli/standard: OK"
