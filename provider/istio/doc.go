// Package istio is the Istio provider: a progressive.TrafficRouter ("istio")
// that moves traffic between the stable and canary subsets of a Service with
// one HTTP route of an Istio VirtualService.
//
// # Objects
//
// For a target checkout in namespace shop the router uses, by default:
//
//   - the DestinationRule shop/checkout, with the subsets "stable" and
//     "canary" (Options.StableSubset, Options.CanarySubset) selecting pods by
//     a label (RoleLabel, progressive.agentops.io/role, the label the
//     kubernetes provider puts on the two sides' pods);
//   - the VirtualService shop/checkout (Options.VirtualService), which may hold
//     the user's other routes and other routers' routes;
//   - in it, the HTTP route "progressive-checkout" (Options.RouteName) that it
//     owns, with two destinations, stable and canary, and their weights, plus
//     "progressive-checkout-ab" ahead of it while header or cookie matches are
//     set, and "progressive-checkout-sticky" while session affinity holds
//     users on the canary.
//
// With Options.Create the router creates a missing DestinationRule (both
// subsets) and VirtualService (host = the target's Service, the route at
// AllStable), labelled app.kubernetes.io/managed-by=progressive. Without it,
// both must exist and are adopted: a missing VirtualService or
// DestinationRule is progressive.ErrNotFound naming it, a DestinationRule
// without one of the subsets is progressive.ErrInvalid naming the subset.
// The destination host must be a Service that exists when it names one of
// the cluster's (a short name, or <svc>.<ns>.svc.cluster.local): Istio would
// accept routes to a missing host and answer them with 503s, failing the
// analysis for the wrong reason, so it is progressive.ErrNotFound, checked
// before anything is written. External hosts are not checked.
//
// The router owns only the routes listed in the VirtualService's
// RoutesAnnotation (progressive.agentops.io/routes). A user route that
// carries one of its names is a collision (progressive.ErrInvalid, nothing
// written, not even by Finalize). New routes are inserted ahead of the first
// catch-all route (one without a match), which would otherwise take their
// traffic, or at the end; once there, they keep their place. Two routers
// sharing one VirtualService (Options.URIPrefix "/cart" and "/checkout", say)
// do not disturb each other.
//
// # Routes
//
//   - Weights: Istio weights are integers, so a weight is rounded to a whole
//     percentage and GetRoutes reports the rounded, achieved one.
//   - A blue-green switch (100/0 to 0/100) is one write of the two weights.
//   - Matches (A/B): each progressive.Match is one HTTPMatchRequest of the A/B
//     route (a request matching any goes to the canary): a header match is
//     headers: {name: {exact|regex}} (names lower-cased, as Istio wants), a
//     cookie match a regex on the Cookie header; GetRoutes parses them back.
//   - Mirroring: mirror to the canary subset with mirrorPercentage.
//
// # Session affinity
//
// With weights alone a user's requests land on either side at random, so one
// user may see the canary and the stable version in turn. With
// Options.SessionAffinity (a cookie name and a MaxAge, the design of
// Flagger's session affinity) a user whom the weights once sent to the canary
// stays on it:
//
//   - the canary destination of the weighted route adds a response header
//     operation, Set-Cookie: <CookieName>=<value>; Max-Age=<seconds>; Path=/,
//     so every response the weights route to the canary sets the cookie;
//   - the sticky route, ahead of the weighted one (behind the A/B route),
//     sends the requests whose Cookie header carries exactly that cookie (a
//     regex match, restricted to Options.URIPrefix like the router's other
//     routes) to the canary subset.
//
// The value is random, chosen when the sticky route is first written, and
// kept while the weights move, so the users the canary has gathered stay on
// it. Both exist only while the canary weight is between 0 and 100
// (exclusive): AllStable (a rollback), 100 (everyone is on the canary anyway)
// and Finalize remove them in the same single write as the weights, so nobody
// sticks to a rolled-back canary, and the next rollout gets a new value,
// which the cookies of an earlier canary do not match. GetRoutes does not
// report the sticky route: it is not an A/B match but the memory of the
// weights' choice. New and NewForClients refuse (progressive.ErrInvalid,
// naming the field and the value) a cookie name that is not an HTTP token and
// a MaxAge that is not a positive whole number of seconds.
//
// # Writes
//
// Each SetRoutes and Finalize is one Update of the VirtualService guarded by
// its resourceVersion, retried on conflicts (client-go util/retry, with a
// jittered backoff patient enough for several routers sharing one
// VirtualService) from a fresh read, so a concurrent writer (another router,
// the user) is never overwritten unseen, and nothing is ever half-written: a
// failed Update leaves the previous routes. The router's routes in the object
// the Update returns (what the apiserver stored, after any mutating admission)
// are compared, as protocol buffers (proto.Equal), with what was written
// (progressive.ErrConflict if they differ). An unchanged SetRoutes writes
// nothing.
//
// # Requests
//
// The router's client is shared by every rollout it drives, so each call is
// kept to the fewest requests. The first SetRoutes of a target (or
// Initialize) validates everything: the destination host's Service, the
// DestinationRule's subsets and the VirtualService's route names (a Get of
// each, and the CRD discovery once per Router). The Router then remembers the
// target as validated, with the VirtualService as last written (the Update's
// response) or read (GetRoutes), and starts the next SetRoutes' Update from
// it: a traffic change is one request, the Update, and GetRoutes one Get.
// What it remembers is only ever the base of a resourceVersion-guarded
// Update: if the VirtualService changed meanwhile the Update conflicts and is
// retried from a fresh read, and a SetRoutes that it says needs no write reads
// the VirtualService to confirm (one Get). Finalize is a Get and an Update.
// The router forgets a target at Finalize and whenever a request answers
// NotFound or Conflict, or finds a collision or an invalid object, so that the
// next SetRoutes validates everything again (and, with Options.Create,
// re-creates a deleted VirtualService); it remembers at most 4096 targets. A
// DestinationRule or Service changed while the router remembers a target is
// therefore not noticed by SetRoutes until then.
//
// Finalize removes the router's routes from an adopted VirtualService, leaving
// the user's routes as they were before the rollout. In a VirtualService the
// router created it leaves its route at AllStable instead, since removing it
// would send traffic to the whole Service, canary pods included.
//
// # Requirements
//
// The router needs the Istio CRDs (networking.istio.io/v1, Istio 1.22 or
// later). When they are missing every call fails with progressive.ErrNotFound
// naming the CRD and how to install it (found with the clientset's discovery
// client). The router uses the typed clients of istio.io/client-go
// (VirtualServices and DestinationRules of networking.istio.io/v1, their
// specs the protocol buffers of istio.io/api): a VirtualService is read and
// written whole, so a field of a newer Istio than the istio.io/api this
// module builds with would be dropped from a VirtualService the router
// updates; keep the module's Istio version at least the cluster's. RBAC:
// get, create, update on virtualservices and destinationrules (create only
// with Options.Create), and get on services.
//
// The tests run the router on the fake Istio clientset for the faults an
// apiserver will not produce on demand (conflicts, failing or mutated
// Updates), and against a real kube-apiserver (internal/testenv) with the
// CRDs of the istio.io/api module installed, whose OpenAPI schemas validate
// and prune every object the router writes, running the provider/routertest
// conformance suite on created and on adopted objects, with and without
// session affinity.
package istio
