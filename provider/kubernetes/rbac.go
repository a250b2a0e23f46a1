package kubernetes

import (
	_ "embed"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// roleYAML is role.yaml, unexported so that no caller can change the Role
// every later Role call returns; RoleYAML hands out copies.
//
//go:embed role.yaml
var roleYAML []byte

// RoleYAML returns role.yaml, the provider's least-privilege RBAC Role with a
// comment on each rule, to apply as it is (kubectl apply -n <namespace> -f -)
// or to read. Each call returns a new copy.
func RoleYAML() []byte { return slices.Clone(roleYAML) }

// RoleName is the name of the Role in role.yaml.
const RoleName = "progressive"

// Role returns the least-privilege RBAC Role the provider needs in namespace
// (the namespace of the workloads, their Services, state ConfigMaps, Leases and
// Jobs), parsed from role.yaml, which documents each rule:
//
//	deployments (apps)                get, list, watch, create, update, patch
//	replicasets (apps)                list, watch
//	services                          get, update
//	pods                              list
//	endpointslices (discovery.k8s.io) list
//	configmaps                        get, list, watch, create, update
//	leases (coordination.k8s.io)      get, list, watch, create, update
//	jobs (batch)                      get, create
//	events                            create, patch
//
// Nothing is deleted and nothing outside the namespace is read.
func Role(namespace string) (*rbacv1.Role, error) {
	var r rbacv1.Role
	if err := yaml.UnmarshalStrict(roleYAML, &r); err != nil {
		return nil, fmt.Errorf("kubernetes: role.yaml: %w", err)
	}
	r.Namespace = namespace
	return &r, nil
}
