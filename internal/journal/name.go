package journal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// DecodeName decodes one string of a plan file (a path, a name, a
// detail). File names are bytes, not text, so a plan keeps them byte for
// byte: a string that is valid UTF-8 is a JSON string, one that is not is
// the object {"b64": "<standard base64 of its bytes>"}, and a valid UTF-8
// string is never written in the object form.
func DecodeName(data []byte) (string, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		var s string
		err := json.Unmarshal(data, &s)
		return s, err
	}
	var o struct {
		B64 *string `json:"b64"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || o.B64 == nil {
		return "", errors.New(`a name written as an object must be {"b64": "..."}`)
	}
	b, err := base64.StdEncoding.DecodeString(*o.B64)
	if err != nil {
		return "", fmt.Errorf("b64 name: %v", err)
	}
	if utf8.Valid(b) {
		return "", fmt.Errorf("b64 name %q is valid UTF-8, which a plan writes as a string", b)
	}
	return string(b), nil
}
