package schema

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the access helpers need: a pgx connection or transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DB is the table access layer for one function execution. Every read
// records, in Deps, the finest key it used, so the engine knows which
// committed changes can alter the result. Reads that a mutation makes record
// nothing (Deps is nil). Not safe for concurrent use.
type DB struct {
	q    Querier
	deps *Deps
}

// NewDB returns the access layer over q, recording reads into deps (nil
// records nothing).
func NewDB(q Querier, deps *Deps) *DB { return &DB{q: q, deps: deps} }

// Querier returns the underlying connection or transaction, for writes.
func (db *DB) Querier() Querier { return db.q }

// Record notes that the execution read rows of d.Table by d's key, so the
// engine re-runs it when such a row changes. A helper records its key
// before it reads (a read that found nothing depends on the key too).
// Domain packages that read their own tables call it from their helpers;
// nothing else should. Without a Deps (mutations) it records nothing.
func (db *DB) Record(d Dep) { db.deps.Add(d) }

// ErrNoRow is returned by single-row reads that found nothing.
var ErrNoRow = errors.New("schema: no such row")

// OneRow is the error of a single-row read: ErrNoRow when it found no
// row, else err.
func OneRow(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoRow
	}
	return err
}

// User reads one user.
func (db *DB) User(ctx context.Context, id string) (User, error) {
	db.deps.add("users", "id", id)
	var u User
	err := db.q.QueryRow(ctx, `SELECT id, name, role, org_id FROM users WHERE id = $1`, id).Scan(&u.ID, &u.Name, &u.Role, &u.OrgID)
	return u, OneRow(err)
}

// Store reads one store.
func (db *DB) Store(ctx context.Context, id string) (Store, error) {
	db.deps.add("stores", "id", id)
	var s Store
	err := db.q.QueryRow(ctx, `SELECT id, name, direct_messaging_enabled, chat_enabled, org_id FROM stores WHERE id = $1`, id).
		Scan(&s.ID, &s.Name, &s.DirectMessagingEnabled, &s.ChatEnabled, &s.OrgID)
	return s, OneRow(err)
}

const orderCols = `id, customer_id, store_id, total_amount::float8, status, order_date`

func scanOrder(row pgx.Row) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.CustomerID, &o.StoreID, &o.TotalAmount, &o.Status, &o.OrderDate)
	return o, err
}

// Order reads one order.
func (db *DB) Order(ctx context.Context, id string) (Order, error) {
	db.deps.add("orders", "id", id)
	o, err := scanOrder(db.q.QueryRow(ctx, `SELECT `+orderCols+` FROM orders WHERE id = $1`, id))
	return o, OneRow(err)
}

// CustomerOrdersAtStore reads a customer's orders at one store, oldest first.
func (db *DB) CustomerOrdersAtStore(ctx context.Context, customerID, storeID string) ([]Order, error) {
	db.deps.add("orders", "customer_id", customerID)
	rows, err := db.q.Query(ctx, `SELECT `+orderCols+` FROM orders
		WHERE customer_id = $1 AND store_id = $2 ORDER BY order_date, id`, customerID, storeID)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Order, error) { return scanOrder(r) })
}

// Settings reads an organization's chat settings: its own row, else the
// default organization's ("").
func (db *DB) Settings(ctx context.Context, org string) (Settings, error) {
	db.deps.add("chat_settings", WholeTable, "")
	var s Settings
	err := db.q.QueryRow(ctx, `SELECT direct_messaging_enabled, admin_support_enabled, max_image_size_mb, allowed_image_types,
			chat_enabled
		FROM chat_settings WHERE org_id IN ($1, '') ORDER BY org_id = $1 DESC LIMIT 1`, org).
		Scan(&s.DirectMessagingEnabled, &s.AdminSupportEnabled, &s.MaxImageSizeMB, &s.AllowedImageTypes, &s.ChatEnabled)
	return s, OneRow(err)
}
