// Package agentauth gives each sandbox's agent its own NATS identity. An
// agent connects with its sandbox id as user name and, as password, an
// HMAC-SHA256 of that id under a secret the dispatchers share. The NATS
// server hands every connection that is not a configured role user to the
// auth callout service here (deploy/nats.conf, auth_callout), which checks
// the password and answers with a user JWT that allows only that sandbox's
// subjects: its own frames, records and inference requests, its own
// assignments and its own reply inbox.
//
// The password needs no state: any dispatcher holding the secret, or the
// same one after a restart, can check it.
package agentauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// inboxPrefix begins every agent's reply inbox. It is not "_INBOX." so that
// no agent's inbox can overlap another client's default one.
const inboxPrefix = "_INBOX_"

// Password returns the NATS password of sandbox's agent: the hex HMAC-SHA256
// of the sandbox id under secret.
func Password(secret []byte, sandbox string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(sandbox))
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether password is sandbox's password under secret, in
// time that does not depend on where they differ.
func Verify(secret []byte, sandbox, password string) bool {
	want := Password(secret, sandbox)
	return hmac.Equal([]byte(want), []byte(password))
}

// InboxPrefix returns the reply inbox prefix of sandbox's agent
// (nats.CustomInboxPrefix); the agent may subscribe only below it.
func InboxPrefix(sandbox string) string { return inboxPrefix + sandbox }
