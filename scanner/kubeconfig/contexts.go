package kubeconfig

import (
	"sigs.k8s.io/yaml"
)

// Contexts lists the names of the contexts a kubeconfig given to the service holds, in
// file order, and its current context ("" when it names none), so that a user can
// choose one before it is vetted. It reads nothing but the names; an unreadable file
// is a *FieldError of the whole file, as Vet reports it, never quoting the content.
func Contexts(raw []byte) (names []string, current string, err error) {
	if len(raw) > maxKubeconfig {
		return nil, "", reject("(file)", "larger than %d bytes", maxKubeconfig)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		reason := "not YAML or JSON"
		if line := yamlLine.FindString(err.Error()); line != "" {
			reason += " (" + line + ")"
		}
		return nil, "", reject("(file)", "%s", reason)
	}
	if doc == nil {
		return nil, "", reject("(file)", "empty")
	}
	items, _ := doc["contexts"].([]any)
	seen := map[string]bool{}
	for _, it := range items {
		entry, _ := it.(map[string]any)
		name, _ := entry["name"].(string)
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil, "", reject("contexts", "missing or empty: the kubeconfig names no context")
	}
	current, _ = doc["current-context"].(string)
	if !seen[current] {
		current = ""
	}
	return names, current, nil
}
