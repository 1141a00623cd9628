package migrate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"unicode/utf8"

	"github.com/cgscale/cgscale/internal/journal"
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
// encoding and decoding then encoding again gives the same bytes.

// rawString is a string with that encoding.
type rawString string

func (r rawString) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(r)) {
		return json.Marshal(string(r))
	}
	return json.Marshal(struct {
		B64 string `json:"b64"`
	}{base64.StdEncoding.EncodeToString([]byte(r))})
}

func (r *rawString) UnmarshalJSON(data []byte) error {
	s, err := journal.DecodeName(data)
	if err != nil {
		return err
	}
	*r = rawString(s)
	return nil
}

var rawType = reflect.TypeOf(rawString(""))

// wireType is t with every string (in fields, slices and nested structs
// of this package) replaced by rawString. Field names, order and tags are
// kept, so the JSON is the same as t's wherever the strings are UTF-8.
func wireType(t reflect.Type) reflect.Type {
	switch t.Kind() {
	case reflect.String:
		return rawType
	case reflect.Slice:
		return reflect.SliceOf(wireType(t.Elem()))
	case reflect.Pointer:
		return reflect.PointerTo(wireType(t.Elem()))
	case reflect.Struct:
		if t.PkgPath() != rawType.PkgPath() {
			return t // time.Time and the like encode themselves
		}
		fields := make([]reflect.StructField, t.NumField())
		for i := range fields {
			f := t.Field(i)
			fields[i] = reflect.StructField{Name: f.Name, Type: wireType(f.Type), Tag: f.Tag}
		}
		return reflect.StructOf(fields)
	}
	return t
}

// convert copies src into dst, where one's type is the wire type of the
// other's.
func convert(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.String:
		dst.SetString(src.String())
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(dst.Type(), src.Len(), src.Len()))
		for i := 0; i < src.Len(); i++ {
			convert(dst.Index(i), src.Index(i))
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.New(dst.Type().Elem()))
		convert(dst.Elem(), src.Elem())
	case reflect.Struct:
		if src.Type() == dst.Type() {
			dst.Set(src)
			return
		}
		for i := 0; i < src.NumField(); i++ {
			convert(dst.Field(i), src.Field(i))
		}
	default:
		dst.Set(src)
	}
}

// planWire is the type a Plan is encoded as.
var planWire = wireType(reflect.TypeOf(planFields{}))

// planFields is Plan without its methods, so that encoding it does not
// call Plan.MarshalJSON again.
type planFields Plan

// MarshalJSON encodes the plan with every string kept byte for byte.
func (p Plan) MarshalJSON() ([]byte, error) {
	w := reflect.New(planWire).Elem()
	convert(w, reflect.ValueOf(planFields(p)))
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
	convert(reflect.ValueOf(&f).Elem(), w.Elem())
	*p = Plan(f)
	return nil
}
