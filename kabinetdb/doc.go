// Package kabinetdb is Kabinet's own data in PostgreSQL, apart from any
// billing: the schema of every table Kabinet keeps for itself (Telegram
// users and their links to accounts, the current account and language,
// payments created at an acquirer and their notices, trust-payment
// reminders, offices and contact hours, support requests, notices and
// trusted persons, the self-service's audit trail) with its own migrations,
// and the store of the links, the current account and the language.
//
// It is named for the database it provides rather than for one feature:
// the features that own some of these tables (offices, support, notices,
// payments) keep their stores in their own packages, and the tables' one
// schema lives here, so that a provider who replaces the billing adapter
// (billing/postgres) keeps all of it. In the demo billing's database some
// of these tables reference the billing's accounts and cities, so the
// billing's migrations run first (app.Migrate).
package kabinetdb
