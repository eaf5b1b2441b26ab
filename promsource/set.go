package promsource

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// Set holds the configured datasources' clients by name.
type Set map[string]*Client

// NewSet validates cfg and builds a client of each datasource. A nil logger
// discards.
func NewSet(cfg Config, logger *slog.Logger) (Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := make(Set, len(cfg.Datasources))
	for _, d := range cfg.Datasources {
		c, err := New(d, logger)
		if err != nil {
			return nil, err
		}
		s[d.Name] = c
	}
	return s, nil
}

// Get returns the client of the named datasource. For a name not
// configured the error matches ErrUnknownDatasource and lists the names
// that are.
func (s Set) Get(name string) (*Client, error) {
	if c, ok := s[name]; ok {
		return c, nil
	}
	quoted := make([]string, 0, len(s))
	for _, n := range s.Names() {
		quoted = append(quoted, fmt.Sprintf("%q", n))
	}
	return nil, fmt.Errorf("%w %q: the configured datasources are %s; use one of them, or add %q to the configuration",
		ErrUnknownDatasource, name, strings.Join(quoted, ", "), name)
}

// Names returns the configured names, sorted.
func (s Set) Names() []string { return slices.Sorted(maps.Keys(s)) }
