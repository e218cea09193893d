// Package jobs is Parley's durable work queue: river (riverqueue.com) on
// the server's own Postgres, through its pgx/v5 driver. Domains add their
// workers and periodic jobs to one river.Workers; New builds the client
// that runs them and that the domains insert jobs with, in the
// transaction of the change that causes them (InsertTx, InsertManyFastTx),
// so a job exists exactly when its cause committed. Migrate creates
// river's tables; schema.Migrate calls it after Parley's own migrations.
//
// # Concurrency model
//
// The river client is safe for concurrent use. Its queues run jobs on
// their own goroutines (at most Config.MaxWorkers at once); one node at a
// time is river's leader and runs periodic jobs and maintenance (retries
// coming due, rescues of jobs whose node died), elected through the
// database, so a job runs once cluster-wide.
//
// # Lifecycle
//
// New does not start work: inserting needs no running client. Run starts
// the queues and returns after ctx is done and the running jobs have
// stopped (they get Config.StopGrace to finish, then their contexts are
// cancelled). A node killed mid-job leaves its job running in the table;
// the leader rescues it after RescueAfter, and it runs again: work is at
// least once, so workers are idempotent.
package jobs
