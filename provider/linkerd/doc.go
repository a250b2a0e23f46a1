// Package linkerd is a progressive.TrafficRouter ("linkerd") for Linkerd, in
// one of two modes chosen by Options.Mode:
//
//   - ModeGatewayAPI ("gateway-api", the default; Linkerd 2.14 and later): an
//     HTTPRoute (gateway.networking.k8s.io/v1) whose parentRef is the target's
//     Service (group "core", kind "Service"), driven by provider/gatewayapi.
//     When the HTTPRoute does not exist, Initialize (and the first SetRoutes)
//     creates it with one rule sending everything to the stable Service, and
//     Finalize deletes it again; a route the user wrote is kept, with only
//     the router's additions removed. Weights and header or cookie matches are
//     supported; mirroring is progressive.ErrUnsupported, since Linkerd does
//     not implement the RequestMirror filter.
//   - ModeSMI ("smi"): an SMI TrafficSplit (split.smi-spec.io) served by the
//     linkerd-smi extension, named after the target, with the target's Service
//     as apex and the stable and canary (<name>-canary) Services as backends.
//     The router creates it, updates it in one resourceVersion-guarded write,
//     and deletes it in Finalize. It goes through the typed clients of
//     github.com/servicemeshinterface/smi-sdk-go, in the served API version it
//     discovers: v1alpha4 (the last SMI release) or v1alpha2 (what linkerd-smi
//     stores). Matches and mirroring are progressive.ErrUnsupported.
//
// Weights are written in millionths (9.09% is 90900 of 1000000). Errors follow
// provider/gatewayapi: a missing CRD is progressive.ErrInvalid naming it and
// how to install it, weights not summing to 100 are progressive.ErrInvalid
// and change nothing.
package linkerd
