package migrate

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/cgscale/cgscale/internal/rawjson"
)

// Paths and names in a plan file are kept byte for byte. File names are
// bytes, not text: an account created as "caf\xe9" by a Latin-1 client is
// not valid UTF-8, and encoding/json would write it as "caf\ufffd", so
// apply would look for an entry that does not exist and the checksum,
// computed over the encoded plan, would not match when read back.
//
// The encoding: every string of the plan (a path, a name, a detail) that
// is valid UTF-8 is a JSON string, as usual; one that is not is the
// object {"b64": "<standard base64 of its bytes>"}. A valid UTF-8 string
// is never written in the object form, so each string has exactly one
// encoding and decoding then encoding again gives the same bytes. The
// encoder is internal/rawjson, shared with scan's JSON report.

// planWire is the type a Plan is encoded as.
var planWire = rawjson.Wire(reflect.TypeOf(planFields{}))

// planFields is Plan without its methods, so that encoding it does not
// call Plan.MarshalJSON again.
type planFields Plan

// MarshalJSON encodes the plan with every string kept byte for byte.
func (p Plan) MarshalJSON() ([]byte, error) {
	w := reflect.New(planWire).Elem()
	rawjson.Convert(w, reflect.ValueOf(planFields(p)))
	return json.Marshal(w.Interface())
}

// UnmarshalJSON decodes what MarshalJSON wrote. Unknown fields are an
// error: a plan is only ever written by cgscale.
func (p *Plan) UnmarshalJSON(data []byte) error {
	w := reflect.New(planWire)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(w.Interface()); err != nil {
		return err
	}
	var f planFields
	rawjson.Convert(reflect.ValueOf(&f).Elem(), w.Elem())
	*p = Plan(f)
	return nil
}
