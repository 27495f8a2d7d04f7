package authz

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	ok := []struct {
		name, raw string
		repeat    []string
		key       string
		want      []string
	}{
		{"simple", "run_id=abc&x=1", nil, "run_id", []string{"abc"}},
		{"plus and escapes", "filter=a+b%3D%27c%27", nil, "filter", []string{"a b='c'"}},
		{"encoded semicolon is data", "filter=a%3Bb", nil, "filter", []string{"a;b"}},
		{"declared repeat", "run_ids=a&run_ids=b", []string{"run_ids"}, "run_ids", []string{"a", "b"}},
		{"empty pairs skipped", "&&run_id=a&", nil, "run_id", []string{"a"}},
		{"key without value", "flag&run_id=a", nil, "flag", []string{""}},
		{"case-sensitive keys", "run_id=a&RUN_ID=b", nil, "run_id", []string{"a"}},
		{"empty", "", nil, "run_id", nil},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			q, err := ParseQuery(c.raw, c.repeat)
			if err != nil {
				t.Fatal(err)
			}
			if got := q.All(c.key); !slices.Equal(got, c.want) {
				t.Fatalf("All(%q) = %q, want %q", c.key, got, c.want)
			}
		})
	}
	bad := []struct {
		name, raw string
		repeat    []string
		want      error
	}{
		{"semicolon separator", "run_id=a;run_id=b", nil, ErrSemicolon},
		{"semicolon in value", "filter=a;b", nil, ErrSemicolon},
		{"repeated scalar", "run_id=a&run_id=b", nil, ErrRepeatedKey},
		{"repeated same value", "run_id=a&run_id=a", nil, ErrRepeatedKey},
		{"repeated via escape", "run_id=a&run%5Fid=b", nil, ErrRepeatedKey},
		{"repeated other key", "run_ids=a&metric_key=m&metric_key=n", []string{"run_ids"}, ErrRepeatedKey},
		{"bad escape", "run_id=%zz", nil, ErrBadEscape},
		{"truncated escape", "run_id=a%4", nil, ErrBadEscape},
		{"invalid utf8", "run_id=%ff", nil, ErrInvalidUTF8},
		{"NUL", "run_id=a%00", nil, ErrNUL},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseQuery(c.raw, c.repeat); !errors.Is(err, c.want) || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("ParseQuery(%q) error %v, want %v", c.raw, err, c.want)
			}
		})
	}
}

func TestParseStrictJSON(t *testing.T) {
	good := []struct{ name, body string }{
		{"object", `{"experiment_id": "1", "tags": [{"key": "a", "value": "b"}]}`},
		{"nested same keys at different levels", `{"key": {"key": 1}}`},
		{"python literals", `{"v": NaN, "w": -Infinity, "x": Infinity}`},
		{"numbers", `[0, -0, 1.5, 1e10, -2E-3]`},
		{"escapes", `"\u00e9\ud83d\ude00\n\"\\\/"`},
		{"whitespace", " \t\r\n{ } \n"},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseStrictJSON([]byte(c.body), 0); err != nil {
				t.Fatal(err)
			}
		})
	}
	bad := []struct {
		name, body string
		limit      int
		want       error
	}{
		{"duplicate key", `{"experiment_id": "1", "experiment_id": "2"}`, 0, ErrDuplicateKey},
		{"case-variant key", `{"key": "x", "KEY": "y"}`, 0, ErrDuplicateKey},
		{"kelvin sign folds to k", `{"k": 1, "\u212a": 2}`, 0, ErrDuplicateKey},
		{"nested duplicate", `{"a": {"run_id": "1", "Run_Id": "2"}}`, 0, ErrDuplicateKey},
		{"many keys duplicate", `{"a0":0,"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b0":0,"b1":1,"b2":2,"b3":3,"b4":4,"b5":5,"b6":6,"B6":7}`, 0, ErrDuplicateKey},
		{"too large", `{"a": "bcdefgh"}`, 8, ErrBodyTooLarge},
		{"trailing data", `{"a": 1} {"a": 2}`, 0, ErrInvalidJSON},
		{"trailing comma", `{"a": 1,}`, 0, ErrInvalidJSON},
		{"single quotes", `{'a': 1}`, 0, ErrInvalidJSON},
		{"leading zero", `{"a": 01}`, 0, ErrInvalidJSON},
		{"plus sign", `{"a": +1}`, 0, ErrInvalidJSON},
		{"raw control in string", "{\"a\": \"x\ny\"}", 0, ErrInvalidJSON},
		{"lone surrogate", `{"a": "\ud800"}`, 0, ErrInvalidJSON},
		{"bad escape", `{"a": "\x41"}`, 0, ErrInvalidJSON},
		{"invalid utf8", "{\"a\": \"\xff\"}", 0, ErrInvalidUTF8},
		{"BOM", "\ufeff{}", 0, ErrInvalidJSON},
		{"whitespace only", "  ", 0, ErrInvalidJSON},
		{"too deep", strings.Repeat("[", MaxJSONDepth+2) + strings.Repeat("]", MaxJSONDepth+2), 0, ErrInvalidJSON},
		{"unterminated", `{"a": "b`, 0, ErrInvalidJSON},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseStrictJSON([]byte(c.body), c.limit); !errors.Is(err, c.want) || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
	if v, err := ParseStrictJSON(nil, 0); v != nil || err != nil {
		t.Fatalf("empty body: %v, %v", v, err)
	}
}

func TestCheckGraphQL(t *testing.T) {
	good := []struct {
		name, doc string
		roots     []string
	}{
		{"UI GetRun", `query GetRun($data: MlflowGetRunInput!) @component(name: "x") {
			mlflowGetRun(input: $data) { run { info { runUuid } experiment { name } modelVersions { name } } }
		}`, []string{"query.mlflowGetRun"}},
		{"shorthand", `{ test(inputString: "a") { output } }`, []string{"query.test"}},
		{"mutation search runs", `mutation S { mlflowSearchRuns(input: {experimentIds: ["1"]}) { runs { info { runId } } } }`, []string{"mutation.mlflowSearchRuns"}},
		{"fragments and aliases", `query { a: mlflowGetExperiment(input: {experimentId: "1"}) { ...E } b: mlflowGetExperiment(input: {experimentId: "2"}) { ...E } }
			fragment E on MlflowGetExperimentResponse { experiment { name } }`, []string{"query.mlflowGetExperiment", "query.mlflowGetExperiment"}},
		{"typename and comments", "# c\n{ __typename, }", []string{"query.__typename"}},
		{"block string", `{ test(inputString: """a "quoted" \""" b""") { output } }`, []string{"query.test"}},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			roots, err := CheckGraphQL(c.doc)
			if err != nil || !slices.Equal(roots, c.roots) {
				t.Fatalf("CheckGraphQL = %v, %v; want %v", roots, err, c.roots)
			}
		})
	}
	deep := "{ mlflowGetRun(input: {}) " + strings.Repeat("{ a ", 10) + strings.Repeat("}", 10) + " }"
	manyAliases := "{ mlflowGetRun(input: {}) { run { " + strings.Repeat("x: info { runId } ", 11) + "} } }"
	manyRoots := "{ " + strings.Repeat("test(inputString: \"a\") { output } ", 11) + "}"
	fragAliases := "{ mlflowGetRun(input: {}) { run { ...A ...B } } } fragment A on R { " + strings.Repeat("a: info ", 6) +
		"} fragment B on R { " + strings.Repeat("b: info ", 6) + "}"
	bad := []struct{ name, doc string }{
		{"introspection", `{ __schema { types { name } } }`},
		{"unknown root", `{ mlflowDeleteRun(input: {}) { ok } }`},
		{"mutation-only field as query", `{ testMutation(inputString: "a") { output } }`},
		{"query field as mutation", `mutation { mlflowGetRun(input: {}) { run { info { runId } } } }`},
		{"subscription", `subscription { test { output } }`},
		{"root via fragment", `{ ...F } fragment F on Query { __schema { types { name } } }`},
		{"root via inline fragment", `{ ... on Query { mlflowDeleteExperiment { x } } }`},
		{"too deep", deep},
		{"too many aliases", manyAliases},
		{"aliases split over fragments", fragAliases},
		{"too many root fields", manyRoots},
		{"undefined fragment", `{ mlflowGetRun(input: {}) { ...Nope } }`},
		{"syntax error", `{ mlflowGetRun(input: {}) { run `},
		{"empty", ``},
		{"unterminated string", `{ test(inputString: "a) { output } }`},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if roots, err := CheckGraphQL(c.doc); !errors.Is(err, ErrGraphQL) {
				t.Fatalf("CheckGraphQL = %v, %v; want a refusal", roots, err)
			}
		})
	}
}

func TestReadGraphQLBody(t *testing.T) {
	roots, err := ReadGraphQLBody([]byte(`{"query": "query GetRun { mlflowGetRun(input: {runId: \"1\"}) { run { info { runId } } } }", "operationName": "GetRun", "variables": {}}`), 0)
	if err != nil || !slices.Equal(roots, []string{"query.mlflowGetRun"}) {
		t.Fatalf("%v, %v", roots, err)
	}
	for _, body := range []string{``, `[]`, `{"query": 1}`, `{"query": "{ test { output } }", "QUERY": "{ __schema { types { name } } }"}`, `{"query": "{ test { output } }", "variables": []}`} {
		if _, err := ReadGraphQLBody([]byte(body), 0); !errors.Is(err, ErrBadRequest) {
			t.Errorf("body %s: %v, want a refusal", body, err)
		}
	}
}

// TestGraphQLIDs: the ids of GraphQL root fields are read from literals,
// variables (whole input or one field), defaults, and list coercion; an id
// the gate cannot read refuses the request.
func TestGraphQLIDs(t *testing.T) {
	cases := []struct {
		body string
		want []string
	}{
		{`{"query": "query { mlflowGetRun(input: {runId: \"r1\"}) { run { info { runId } } } }"}`, []string{"run r1"}},
		{`{"query": "query Q($input: MlflowGetRunInput) { mlflowGetRun(input: $input) { run { info { runId } } } }", "variables": {"input": {"runId": "r2"}}}`, []string{"run r2"}},
		{`{"query": "query Q($id: String = \"r3\") { mlflowListArtifacts(input: {runUuid: $id}) { files { path } } }"}`, []string{"run r3"}},
		{`{"query": "query Q($ids: [String]) { mlflowSearchRuns(input: {experimentIds: $ids}) { runs { info { runId } } } }", "variables": {"ids": ["1", "2"]}}`, []string{"experiment 1", "experiment 2"}},
		{`{"query": "query { a: mlflowGetExperiment(input: {experimentId: \"7\"}) { experiment { name } } b: mlflowGetMetricHistoryBulkInterval(input: {runIds: \"r4\", metricKey: \"m\"}) { metrics { step } } }"}`, []string{"experiment 7", "run r4"}},
	}
	for _, c := range cases {
		_, ids, err := ReadGraphQLRequest([]byte(c.body), 0)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		var got []string
		for _, id := range ids {
			got = append(got, id.Kind.String()+" "+id.Value)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: ids %v, want %v", c.body, got, c.want)
		}
	}
	for _, body := range []string{
		`{"query": "query { mlflowGetRun(input: {runId: {x: 1}}) { run { info { runId } } } }"}`,
		`{"query": "query { mlflowGetRun(input: {runId: \"\"\"r\"\"\"}) { run { info { runId } } } }"}`,
		`{"query": "query { mlflowGetRun(input: {runId: \"a\", runId: \"b\"}) { run { info { runId } } } }"}`,
	} {
		if _, _, err := ReadGraphQLRequest([]byte(body), 0); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want a refusal", body, err)
		}
	}
}
