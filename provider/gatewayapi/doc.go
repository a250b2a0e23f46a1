// Package gatewayapi is a progressive.TrafficRouter ("gatewayapi") on a Gateway
// API HTTPRoute (gateway.networking.k8s.io/v1, standard channel). It works with
// any implementation: it only writes the HTTPRoute, which the apiserver
// validates with the CRD's schema and CEL rules.
//
// # What it owns
//
// The HTTPRoute (Options.RouteName, default the target's name) may hold the
// user's other rules. The router touches only
//
//   - the rules whose backendRefs name the stable Service (the target's name):
//     it sets the stable backendRef's weight and adds a backendRef to the
//     canary Service (<name>-canary, Options.CanarySuffix), and adds or
//     removes a RequestMirror filter whose backendRef is the canary Service;
//   - one rule it adds, named "progressive-<name>-match", holding the A/B
//     header matches that send matching requests to the canary only.
//
// Weights are written in millionths (weight 90900 of 1000000 is 9.09%).
// Mirroring uses the filter's percent field (fraction for non-integer
// shares). The Gateway API has no cookie match, so a cookie match is written as
// a RegularExpression match of the Cookie header ((^|;\s*)name=value(;|$));
// regular expressions are Extended support, so check your implementation.
//
// Each change is one Update of the HTTPRoute guarded by its resourceVersion
// (retried on conflict from a fresh read), so a blue-green switch happens in
// one write and nothing is ever half-written; it is then read back. Finalize
// removes the canary backendRefs, the mirror filter and the match rule, and
// restores each stable backendRef's weight as it was (recorded in the
// annotation OriginalWeightsAnnotation, shared by routers of other Services
// in the same HTTPRoute).
//
// # Errors
//
// A missing HTTPRoute is progressive.ErrNotFound naming it; an HTTPRoute CRD
// that is not installed is progressive.ErrInvalid naming the CRD and how to
// install it; weights that do not sum to 100 are progressive.ErrInvalid and
// change nothing.
package gatewayapi
