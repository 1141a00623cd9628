package journal

import "github.com/cgscale/cgscale/internal/rawjson"

// DecodeName decodes one string of a plan file (a path, a name, a
// detail). File names are bytes, not text, so a plan keeps them byte for
// byte: a string that is valid UTF-8 is a JSON string, one that is not is
// the object {"b64": "<standard base64 of its bytes>"}, and a valid UTF-8
// string is never written in the object form (internal/rawjson).
func DecodeName(data []byte) (string, error) {
	var s rawjson.String
	err := s.UnmarshalJSON(data)
	return string(s), err
}
