package progressive

import "context"

// StatusWatcher is implemented by workloads that can tell when a target's status
// may have changed (a Kubernetes watch on its Deployments, say). The runner then
// reads Status as soon as a pod becomes ready instead of at its next poll: on a
// cluster where pods are ready at once, a deploy or promote step ends in well
// under a second rather than after a whole poll interval.
//
// Notifications are hints, not status: a receive means "read Status again", and
// several changes may come as one. The runner still polls, so a watcher that
// misses a change only costs time.
type StatusWatcher interface {
	// WatchStatus subscribes to target's changes. The channel receives a value
	// (without blocking the watcher: unread changes coalesce into one) after any
	// change that may alter what Status reports for target, and is closed when
	// ctx ends or the watcher stops (its provider closed, say). It returns
	// once changes from then on will be delivered; an error means no
	// notifications, and the caller polls.
	WatchStatus(ctx context.Context, target Target) (<-chan struct{}, error)
}
