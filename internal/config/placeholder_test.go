package config

import (
	"strings"
	"testing"
)

// The example secrets (deploy/k8s/base/secret.yaml, deploy/k8s/overlays/example/secrets.example.env)
// hold placeholders; a worker started with one of them must stop at once, naming the variable.
func TestPlaceholdersStopTheWorker(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string // variables the error must name
		notWant string   // text the error must not show
	}{
		{"spotify credentials", map[string]string{"SPOTIFY_CLIENT_ID": "CHANGE_ME", "SPOTIFY_CLIENT_SECRET": "CHANGE_ME"},
			[]string{"SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"}, ""},
		{"discogs token, lower case", map[string]string{"DISCOGS_TOKEN": "change_me"}, []string{"DISCOGS_TOKEN"}, ""},
		{"password in a URL", map[string]string{"AMQP_URL": "amqp://enrichment:CHANGE_ME@rabbitmq.messaging.svc:5672/"},
			[]string{"AMQP_URL"}, ""},
		{"template user and password", map[string]string{"DATABASE_URL": "postgres://REPLACE_USER:REPLACE_PASSWORD@postgres.db.svc:5432/musicdb?sslmode=require"},
			[]string{"DATABASE_URL"}, "postgres.db.svc"},
		{"worker setting", map[string]string{"CACHE_PREFIX": "CHANGEME:"}, []string{"CACHE_PREFIX"}, ""},
		{"list setting", map[string]string{"PROVIDERS": "spotify,REPLACE_ME"}, []string{"PROVIDERS"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadWorker(tc.env)
			if err == nil {
				t.Fatalf("LoadWorker(%v): got no error, want one naming %v", tc.env, tc.want)
			}
			for _, name := range tc.want {
				if !strings.Contains(err.Error(), name+": still holds the example placeholder") {
					t.Errorf("LoadWorker error: got %q, want it to name %s as a placeholder", err, name)
				}
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("LoadWorker error: got %q, want the value not shown", err)
			}
		})
	}
	// The binaries that share Common refuse them too.
	if _, err := LoadCommon(map[string]string{"AMQP_URL": "amqp://u:CHANGE_ME@h:5672/"}); err == nil || !strings.Contains(err.Error(), "AMQP_URL: still holds") {
		t.Errorf("LoadCommon with a placeholder AMQP_URL: got %v, want an error naming AMQP_URL", err)
	}
	// Real-looking values pass.
	if _, err := LoadWorker(map[string]string{"SPOTIFY_CLIENT_ID": "3f1c9a", "SPOTIFY_CLIENT_SECRET": "8b2e77", "DISCOGS_TOKEN": "tok-1"}); err != nil {
		t.Errorf("LoadWorker with real credentials: got %v, want no error", err)
	}
}
