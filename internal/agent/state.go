package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// State is what the agent persists between runs.
type State struct {
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
	// Fingerprint of the controller's certificate, pinned at join.
	Fingerprint string `json:"fingerprint,omitempty"`
	// UserCAKeys are the user CAs the SSH server trusts, as last sent by
	// the controller (kept across controller downtime).
	UserCAKeys []string `json:"user_ca_keys,omitempty"`
	// UserCATrustedUntil says until when each of UserCAKeys is trusted
	// (Unix seconds, 0: no end), as last sent by the controller.
	UserCATrustedUntil []int64 `json:"user_ca_trusted_until,omitempty"`
	// RevokedKeyIDs are the key ids of certificates the SSH server refuses
	// (revoked tokens), as last sent by the controller.
	RevokedKeyIDs []string `json:"revoked_key_ids,omitempty"`
}

const stateFile = "agent.json"

// LoadState reads dir/agent.json; a missing file is an empty State.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("agent state %s is corrupt (%v); remove it and join again", filepath.Join(dir, stateFile), err)
	}
	return &s, nil
}

// Save writes the state atomically with mode 0600.
func (s *State) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	return nil
}
