package kubernetes

import (
	_ "embed"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// RoleYAML is role.yaml: the least-privilege RBAC Role of the provider.
//
//go:embed role.yaml
var RoleYAML []byte

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
	if err := yaml.UnmarshalStrict(RoleYAML, &r); err != nil {
		return nil, fmt.Errorf("kubernetes: role.yaml: %w", err)
	}
	r.Namespace = namespace
	return &r, nil
}
