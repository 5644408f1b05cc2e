-- 0010_jobs.sql: the runs of the scheduled jobs (infrpoolctl tick), for the
-- operator's pages and for knowing what is due. A job is due when no run of
-- it finished well for the current slot of its schedule (due_at); a failed
-- or interrupted run leaves it due, so the next tick tries again.

CREATE TABLE job_runs (
	id		bigserial PRIMARY KEY,
	job		text NOT NULL CHECK (job ~ '^[a-z][a-z0-9-]{0,39}$'),
	due_at		timestamptz NOT NULL,	-- the schedule's slot this run is for
	clock		timestamptz NOT NULL,	-- the tick's clock (--now, or the real one)
	started_at	timestamptz NOT NULL DEFAULT now(),
	finished_at	timestamptz,
	outcome		text NOT NULL DEFAULT 'running'
			CHECK (outcome IN ('running', 'ok', 'failed')),
	counts		jsonb NOT NULL DEFAULT '{}',	-- what it did: {"voided": 3}
	message		text,			-- why it failed; never content
	CHECK ((outcome = 'running') = (finished_at IS NULL))
);
CREATE INDEX job_runs_job ON job_runs (job, due_at DESC);
