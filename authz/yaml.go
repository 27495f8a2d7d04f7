package authz

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v3"
)

// TableFormatVersion is the version of the YAML table format.
const TableFormatVersion = 1

type tableFile struct {
	Version     int          `yaml:"version"`
	Resources   []Resource   `yaml:"resources"`
	Permissions []Permission `yaml:"permissions"`
}

const yamlHeader = `# mlflow-gate permission table. Import with the CLI; a dry run shows the diff.
# resources: routes of one type (optionally narrowed by uris) and the scopes they offer.
# permissions: role -> resource # scopes. Scopes: read, write, delete, manage, use.
`

// MarshalTableYAML writes a table as a YAML document an operator can keep in git.
func MarshalTableYAML(t Table) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(yamlHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(tableFile{TableFormatVersion, t.Resources, t.Permissions}); err != nil {
		return nil, fmt.Errorf("authz: encode table: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("authz: encode table: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalTableYAML reads a table written by MarshalTableYAML (or by hand). It is
// strict: unknown fields, duplicate keys, unknown scopes, a missing or different
// version and more than one document are errors. Compile checks the rest.
func UnmarshalTableYAML(b []byte) (Table, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f tableFile
	if err := dec.Decode(&f); err != nil {
		return Table{}, fmt.Errorf("authz: read table: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Table{}, errors.New("authz: read table: more than one YAML document")
	}
	if f.Version != TableFormatVersion {
		return Table{}, fmt.Errorf("authz: read table: version %d, want %d", f.Version, TableFormatVersion)
	}
	return Table{Resources: f.Resources, Permissions: f.Permissions}, nil
}
