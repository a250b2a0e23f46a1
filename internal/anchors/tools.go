package anchors

// Flagger is fluxcd/flagger's controller at the version the benchmark anchors
// on.
func Flagger() Tool {
	return Tool{Module: "github.com/fluxcd/flagger", Version: "v1.44.0", Package: "./cmd/flagger", Binary: "flagger"}
}

// ArgoRollouts is argoproj/argo-rollouts' controller. v1.10.2 needs Go >= 1.26.10,
// so it alone is built with the go1.27.3 toolchain from the module proxy.
func ArgoRollouts() Tool {
	return Tool{
		Module: "github.com/argoproj/argo-rollouts", Version: "v1.10.2",
		Package: "./cmd/rollouts-controller", Binary: "rollouts-controller", Toolchain: "go1.27.3",
	}
}
