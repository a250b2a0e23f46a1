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
//     set.
//
// With Options.Create the router creates a missing DestinationRule (both
// subsets) and VirtualService (host = the target's Service, the route at
// AllStable), labelled app.kubernetes.io/managed-by=progressive. Without it,
// both must exist and are adopted: a missing VirtualService or
// DestinationRule is progressive.ErrNotFound naming it, a DestinationRule
// without one of the subsets is progressive.ErrInvalid naming the subset.
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
// # Writes
//
// Each SetRoutes and Finalize is one Update of the VirtualService guarded by
// its resourceVersion, retried on conflicts (client-go util/retry) from a
// fresh read, so a concurrent writer (another router, the user) is never
// overwritten unseen, and nothing is ever half-written: a failed Update leaves
// the previous routes. The router's routes are then read back and compared
// with what was written (progressive.ErrConflict if someone changed them). An
// unchanged SetRoutes writes nothing.
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
// naming the CRD and how to install it. It works on unstructured objects with
// the dynamic client, so this module does not need istio.io/api to build.
// RBAC: get, list, create, update on virtualservices and destinationrules
// (create only with Options.Create).
//
// The tests run against a real kube-apiserver (internal/testenv) with the CRDs
// of the istio.io/api module installed, whose OpenAPI schemas validate every
// object the router writes, and run the provider/routertest conformance suite
// both on created and on adopted objects.
package istio
