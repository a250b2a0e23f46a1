// Package corpus holds the bad-input corpus: hundreds of values that every
// public entry point taking user input must refuse (plans, checks, routes, flag
// references, releases, targets, strategies, query templates, runner options and
// plans, JSON, provider options). Its test asserts, case by case, an error that
// wraps progressive.ErrInvalid and names the offending field, no panic, no hang,
// and no secret of the input in the message. It has no code of its own.
package corpus
