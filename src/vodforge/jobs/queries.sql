-- The statements that move jobs between states. Each is one conditional statement:
-- it changes a row only if the row is still in the state (and, for worker writes, still
-- under the lease token) the caller believes, so two actors can never both win.
-- Blocks are named "-- name --"; "-- name[dialect] --" overrides for one dialect.
-- A job is claimable when its state is QUEUED or RETRY_WAIT and run_after <= now: QUEUED
-- jobs get run_after = the time they were queued, so one plain range test serves both and
-- the planner can estimate it (an OR over two columns it could not).
-- The job_events triggers (migration 0001) append the history row for every transition,
-- copying transition_reason and transition_by.

-- claim_job[postgresql] --
-- Fair claiming: the tenant with the fewest RUNNING jobs first, then priority (lower
-- first), then age. Each tenant offers its first few claimable jobs straight from the
-- (tenant, priority, age) index, so a claim costs a few index probes per tenant instead of
-- a sort of the whole backlog; eight (not one) leave SKIP LOCKED something to skip to when
-- claimers race inside one tenant (a claimer that finds all eight taken gets None and its
-- worker looks again shortly).
-- On PostgreSQL the hot transitions run as one autocommit statement: the video update
-- rides along in a data-modifying CTE, so claim, heartbeat and complete are one round trip
-- each.
WITH busy AS MATERIALIZED (
    -- A parent waiting on its children occupies no worker: only its children count.
    SELECT tenant_id, count(*) AS running
    FROM jobs WHERE state = 'RUNNING' AND lease_token IS NOT NULL
    GROUP BY tenant_id
), candidate AS (
    SELECT jobs.id
    FROM tenants
    CROSS JOIN LATERAL (
        SELECT waiting.id, waiting.priority, waiting.created_at
        FROM jobs AS waiting
        WHERE waiting.tenant_id = tenants.id
          AND waiting.state IN ('QUEUED', 'RETRY_WAIT') AND waiting.run_after <= :now
        ORDER BY waiting.priority, waiting.created_at
        LIMIT 8
    ) AS next_up
    JOIN jobs ON jobs.id = next_up.id
    LEFT JOIN busy ON busy.tenant_id = tenants.id
    -- Re-checked on the locked row, so a job another claimer just took is never returned.
    WHERE jobs.state IN ('QUEUED', 'RETRY_WAIT') AND jobs.run_after <= :now
    ORDER BY coalesce(busy.running, 0), next_up.priority, next_up.created_at, next_up.id
    LIMIT 1
    FOR UPDATE OF jobs SKIP LOCKED
), claimed AS (
    UPDATE jobs SET
        state = 'RUNNING', attempt_count = jobs.attempt_count + 1,
        lease_token = :token, leased_by = :worker, leased_until = :now + :ttl,
        last_heartbeat_at = :now, updated_at = :now,
        transition_reason = 'claimed', transition_by = :worker
    FROM candidate
    WHERE jobs.id = candidate.id AND jobs.state IN ('QUEUED', 'RETRY_WAIT')
    RETURNING jobs.id, jobs.video_id, jobs.tenant_id, jobs.attempt_count, jobs.max_attempts,
              jobs.lease_token, jobs.cancel_requested, jobs.kind, jobs.parent_id, jobs.spec
), processing AS (
    UPDATE videos SET status = 'PROCESSING', updated_at = :now
    FROM claimed
    WHERE videos.id = claimed.video_id AND videos.current_job_id = claimed.id
      AND videos.status IN ('UPLOADED', 'PROCESSING')
)
SELECT * FROM claimed

-- claim_job[sqlite] --
-- Runs inside BEGIN IMMEDIATE: the write lock is held from the SELECT to the UPDATE.
UPDATE jobs SET
    state = 'RUNNING', attempt_count = attempt_count + 1,
    lease_token = :token, leased_by = :worker, leased_until = :now + :ttl,
    last_heartbeat_at = :now, updated_at = :now,
    transition_reason = 'claimed', transition_by = :worker
WHERE id = (
    SELECT jobs.id
    FROM jobs LEFT JOIN (
        SELECT tenant_id, count(*) AS running
        FROM jobs WHERE state = 'RUNNING' AND lease_token IS NOT NULL
        GROUP BY tenant_id
    ) AS busy ON busy.tenant_id = jobs.tenant_id
    WHERE jobs.state IN ('QUEUED', 'RETRY_WAIT') AND jobs.run_after <= :now
    ORDER BY coalesce(busy.running, 0), jobs.priority, jobs.created_at, jobs.id
    LIMIT 1
)
RETURNING id, video_id, tenant_id, attempt_count, max_attempts, lease_token, cancel_requested,
          kind, parent_id, spec

-- claim_job_by_id[postgresql] --
WITH claimed AS (
    UPDATE jobs SET
        state = 'RUNNING', attempt_count = attempt_count + 1,
        lease_token = :token, leased_by = :worker, leased_until = :now + :ttl,
        last_heartbeat_at = :now, updated_at = :now,
        transition_reason = 'claimed', transition_by = :worker,
        executor_ref = coalesce(:ref, executor_ref)
    WHERE id = :job_id
      AND state IN ('QUEUED', 'RETRY_WAIT') AND run_after <= :now
    RETURNING id, video_id, tenant_id, attempt_count, max_attempts, lease_token,
              cancel_requested, kind, parent_id, spec
), processing AS (
    UPDATE videos SET status = 'PROCESSING', updated_at = :now
    FROM claimed
    WHERE videos.id = claimed.video_id AND videos.current_job_id = claimed.id
      AND videos.status IN ('UPLOADED', 'PROCESSING')
)
SELECT * FROM claimed

-- claim_job_by_id --
-- The container entry point (run-job JOB_ID) claims exactly the job it was started for. A
-- container that knows its own executor reference (AWS_BATCH_JOB_ID) records it, so a later
-- terminate reaches the run that holds the lease, not another submit of the same job.
UPDATE jobs SET
    state = 'RUNNING', attempt_count = attempt_count + 1,
    lease_token = :token, leased_by = :worker, leased_until = :now + :ttl,
    last_heartbeat_at = :now, updated_at = :now,
    transition_reason = 'claimed', transition_by = :worker,
    executor_ref = coalesce(:ref, executor_ref)
WHERE id = :job_id
  AND state IN ('QUEUED', 'RETRY_WAIT') AND run_after <= :now
RETURNING id, video_id, tenant_id, attempt_count, max_attempts, lease_token, cancel_requested,
          kind, parent_id, spec

-- renew_lease --
UPDATE jobs SET leased_until = :now + :ttl, last_heartbeat_at = :now
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token
RETURNING cancel_requested

-- complete_job[postgresql] --
-- A cancel that arrived after the last heartbeat wins over the result.
WITH done AS (
    UPDATE jobs SET
        state = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE 'SUCCEEDED' END,
        lease_token = NULL, leased_until = NULL, finished_at = :now, updated_at = :now,
        transition_reason = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'completed' END,
        transition_by = :worker
    WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token
    RETURNING id, video_id, state
), published AS (
    UPDATE videos SET
        status = CASE WHEN done.state = 'SUCCEEDED' THEN 'READY' ELSE 'CANCELLED' END,
        package = CASE WHEN done.state = 'SUCCEEDED' THEN :package ELSE videos.package END,
        error_code = NULL, error_message = NULL, updated_at = :now
    FROM done
    WHERE videos.id = done.video_id AND videos.current_job_id = done.id
)
SELECT video_id, state FROM done

-- complete_job --
-- A cancel that arrived after the last heartbeat wins over the result.
UPDATE jobs SET
    state = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE 'SUCCEEDED' END,
    lease_token = NULL, leased_until = NULL, finished_at = :now, updated_at = :now,
    transition_reason = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'completed' END,
    transition_by = :worker
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token
RETURNING video_id, state

-- complete_part --
-- A chunk or the audio of a family: its output manifest is recorded in the same fenced
-- statement, so only the attempt that holds the lease can ever name the files to stitch.
UPDATE jobs SET
    state = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE 'SUCCEEDED' END,
    result = CASE WHEN cancel_requested THEN NULL ELSE :result END,
    lease_token = NULL, leased_until = NULL, finished_at = :now, updated_at = :now,
    transition_reason = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'completed' END,
    transition_by = :worker
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token
RETURNING video_id, state, parent_id

-- split_job --
-- The video's job hands its work to its children: it stays RUNNING but gives up its lease
-- (nobody heartbeats a parent; the lease scanner passes it by) until the family ends.
UPDATE jobs SET
    lease_token = NULL, leased_by = NULL, leased_until = NULL, updated_at = :now,
    transition_reason = :reason, transition_by = :worker
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token AND NOT cancel_requested
RETURNING video_id, priority, max_attempts

-- lock_family[postgresql] --
-- Every family write takes the parent's row lock first, so two children finishing at once
-- are decided one after the other (and only one of them starts the stitch).
SELECT id, video_id, tenant_id, state, lease_token, cancel_requested, priority, max_attempts
FROM jobs WHERE id = :parent_id
FOR UPDATE

-- lock_family --
SELECT id, video_id, tenant_id, state, lease_token, cancel_requested, priority, max_attempts
FROM jobs WHERE id = :parent_id

-- end_family --
UPDATE jobs SET
    state = :state, finished_at = :now, updated_at = :now,
    last_error_code = :code, last_error_message = :message,
    transition_reason = :reason, transition_by = :actor
WHERE id = :parent_id AND state = 'RUNNING' AND lease_token IS NULL
RETURNING video_id, state

-- waiting_families --
SELECT id FROM jobs
WHERE state = 'RUNNING' AND lease_token IS NULL
ORDER BY updated_at
LIMIT :batch

-- fail_job_retryable --
UPDATE jobs SET
    state = CASE
        WHEN cancel_requested THEN 'CANCELLED'
        WHEN attempt_count >= max_attempts THEN 'DEAD'
        ELSE 'RETRY_WAIT' END,
    run_after = CASE WHEN cancel_requested OR attempt_count >= max_attempts
                     THEN NULL ELSE :run_after END,
    dispatched_at = NULL, lease_token = NULL, leased_until = NULL,
    last_error_code = :code, last_error_message = :message,
    finished_at = CASE WHEN cancel_requested OR attempt_count >= max_attempts
                       THEN :now ELSE NULL END,
    updated_at = :now, transition_reason = :reason, transition_by = :worker
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token
RETURNING video_id, state, parent_id

-- fail_job_permanent --
UPDATE jobs SET
    state = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE 'FAILED' END,
    lease_token = NULL, leased_until = NULL,
    last_error_code = :code, last_error_message = :message,
    finished_at = :now, updated_at = :now, transition_reason = :reason, transition_by = :worker
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token
RETURNING video_id, state, parent_id

-- finish_cancelled --
UPDATE jobs SET
    state = 'CANCELLED', lease_token = NULL, leased_until = NULL,
    finished_at = :now, updated_at = :now,
    transition_reason = 'cancelled: worker stopped the job', transition_by = :worker
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token AND cancel_requested
RETURNING video_id, state

-- release_job --
-- Graceful shutdown gives the job back at once; the interrupted attempt is not counted.
UPDATE jobs SET
    state = CASE WHEN cancel_requested THEN 'CANCELLED' ELSE 'QUEUED' END,
    attempt_count = CASE WHEN cancel_requested THEN attempt_count ELSE attempt_count - 1 END,
    lease_token = NULL, leased_until = NULL, dispatched_at = NULL, run_after = :now,
    finished_at = CASE WHEN cancel_requested THEN :now ELSE NULL END,
    updated_at = :now, transition_reason = 'released: worker shutting down',
    transition_by = :worker
WHERE id = :job_id AND state = 'RUNNING' AND lease_token = :token
RETURNING video_id, state

-- expire_stale_leases[postgresql] --
-- An expired lease counts as an attempt; the job is due again at once (same job id).
UPDATE jobs SET
    state = CASE
        WHEN cancel_requested THEN 'CANCELLED'
        WHEN attempt_count >= max_attempts THEN 'DEAD'
        ELSE 'RETRY_WAIT' END,
    run_after = CASE WHEN cancel_requested OR attempt_count >= max_attempts
                     THEN NULL ELSE :now END,
    dispatched_at = NULL, lease_token = NULL, leased_until = NULL,
    last_error_code = 'WORKER_LOST',
    last_error_message = 'lease expired: worker ' || coalesce(leased_by, '?') || ' stopped heartbeating',
    finished_at = CASE WHEN cancel_requested OR attempt_count >= max_attempts
                       THEN :now ELSE NULL END,
    updated_at = :now, transition_reason = 'lease expired', transition_by = :scanner
WHERE id IN (
    SELECT id FROM jobs
    WHERE state = 'RUNNING' AND leased_until < :now
    ORDER BY leased_until
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)
  AND state = 'RUNNING' AND leased_until < :now
RETURNING id, video_id, tenant_id, state, attempt_count, max_attempts, parent_id

-- expire_stale_leases[sqlite] --
UPDATE jobs SET
    state = CASE
        WHEN cancel_requested THEN 'CANCELLED'
        WHEN attempt_count >= max_attempts THEN 'DEAD'
        ELSE 'RETRY_WAIT' END,
    run_after = CASE WHEN cancel_requested OR attempt_count >= max_attempts
                     THEN NULL ELSE :now END,
    dispatched_at = NULL, lease_token = NULL, leased_until = NULL,
    last_error_code = 'WORKER_LOST',
    last_error_message = 'lease expired: worker ' || coalesce(leased_by, '?') || ' stopped heartbeating',
    finished_at = CASE WHEN cancel_requested OR attempt_count >= max_attempts
                       THEN :now ELSE NULL END,
    updated_at = :now, transition_reason = 'lease expired', transition_by = :scanner
WHERE id IN (
    SELECT id FROM jobs
    WHERE state = 'RUNNING' AND leased_until < :now
    ORDER BY leased_until
    LIMIT :batch
)
  AND state = 'RUNNING' AND leased_until < :now
RETURNING id, video_id, tenant_id, state, attempt_count, max_attempts, parent_id

-- cancel_job --
-- Waiting jobs end at once; a running one is flagged and ended by its worker (or scanner).
UPDATE jobs SET
    state = CASE WHEN state = 'RUNNING' THEN state ELSE 'CANCELLED' END,
    cancel_requested = true,
    finished_at = CASE WHEN state = 'RUNNING' THEN finished_at ELSE :now END,
    updated_at = :now,
    transition_reason = CASE WHEN state = 'RUNNING' THEN 'cancel requested' ELSE 'cancelled' END,
    transition_by = :actor
WHERE id = :job_id AND state IN ('QUEUED', 'RETRY_WAIT', 'RUNNING') AND NOT cancel_requested
RETURNING video_id, state, parent_id

-- mark_dead --
UPDATE jobs SET
    state = 'DEAD', lease_token = NULL, leased_until = NULL,
    last_error_code = 'DEAD_LETTERED', last_error_message = :message,
    finished_at = :now, updated_at = :now, transition_reason = :reason, transition_by = :actor
WHERE id = :job_id AND state IN ('QUEUED', 'RETRY_WAIT')
RETURNING video_id, state, parent_id

-- mark_dispatched --
UPDATE jobs SET dispatched_at = :now, executor_ref = :ref, dispatch_error = NULL,
    dispatch_failures = 0, dispatch_after = NULL
WHERE id = :job_id AND state IN ('QUEUED', 'RETRY_WAIT')

-- record_dispatch_failure --
-- The submit failed: the job stays waiting with the error, and is tried again once
-- dispatch_after has passed (the dispatcher's backoff grows with dispatch_failures).
UPDATE jobs SET dispatched_at = NULL, dispatch_error = :error,
    dispatch_failures = dispatch_failures + 1, dispatch_after = :after
WHERE id = :job_id AND state IN ('QUEUED', 'RETRY_WAIT')
RETURNING dispatch_failures

-- delay_dispatch --
UPDATE jobs SET dispatch_after = :after
WHERE id = :job_id AND state IN ('QUEUED', 'RETRY_WAIT') AND dispatched_at IS NULL

-- forget_dispatch --
-- Reconcile found the executor does not know the job: hand it over again at the next pass.
UPDATE jobs SET dispatched_at = NULL, dispatch_error = :error, dispatch_after = NULL
WHERE id = :job_id AND state IN ('QUEUED', 'RETRY_WAIT')

-- jobs_due_for_dispatch --
SELECT id FROM jobs
WHERE state IN ('QUEUED', 'RETRY_WAIT') AND dispatched_at IS NULL
  AND run_after <= :now AND (dispatch_after IS NULL OR dispatch_after <= :now)
ORDER BY priority, created_at
LIMIT :batch

-- overdue_cancels --
-- RUNNING jobs whose cancel the worker has not acted on within the grace period. While a job
-- runs nothing but cancel_job touches updated_at (heartbeats move only the lease), so
-- updated_at is when the cancel was requested.
-- A parent waiting on its children has no run of its own to terminate (lease_token NULL).
SELECT id FROM jobs
WHERE state = 'RUNNING' AND cancel_requested AND executor_ref IS NOT NULL
  AND lease_token IS NOT NULL AND updated_at < :before
ORDER BY updated_at
LIMIT :batch

-- stalled_dispatches --
-- Claimable jobs nobody started: handed to an executor long ago, or (local workers, which
-- track no dispatch) claimable for that long.
SELECT id FROM jobs
WHERE state IN ('QUEUED', 'RETRY_WAIT')
  AND coalesce(dispatched_at, run_after, updated_at) < :before
ORDER BY created_at
LIMIT :batch

-- backlog --
-- A parent waiting on its children occupies no worker: only its children count.
SELECT state, count(*) AS n FROM jobs
WHERE state IN ('QUEUED', 'RETRY_WAIT', 'RUNNING')
  AND NOT (state = 'RUNNING' AND lease_token IS NULL)
GROUP BY state
