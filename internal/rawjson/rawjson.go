// Package rawjson writes and reads JSON in which every string is kept byte
// for byte. File names are bytes, not text: an account created as
// "caf\xe9" by a Latin-1 client is not valid UTF-8, and encoding/json
// would write it as "caf\ufffd", a name that does not exist.
//
// The encoding: a string that is valid UTF-8 is a JSON string, as usual;
// one that is not is the object {"b64": "<standard base64 of its bytes>"}.
// A valid UTF-8 string is never written in the object form, so each
// string has one encoding, and decoding then encoding again gives the
// same bytes. Strings in struct fields, slices, pointers and map values
// are covered; map keys are written as encoding/json writes them.
package rawjson

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unicode/utf8"
)

// String is a string with that encoding.
type String string

// MarshalJSON writes s as a JSON string, or {"b64": ...} when it is not
// valid UTF-8.
func (s String) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(s)) {
		return json.Marshal(string(s))
	}
	return json.Marshal(struct {
		B64 string `json:"b64"`
	}{base64.StdEncoding.EncodeToString([]byte(s))})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *String) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		var v string
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		*s = String(v)
		return nil
	}
	var o struct {
		B64 *string `json:"b64"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil || o.B64 == nil {
		return errors.New(`a name written as an object must be {"b64": "..."}`)
	}
	b, err := base64.StdEncoding.DecodeString(*o.B64)
	if err != nil {
		return fmt.Errorf("b64 name: %v", err)
	}
	if utf8.Valid(b) {
		return fmt.Errorf("b64 name %q is valid UTF-8, which is written as a string", b)
	}
	*s = String(b)
	return nil
}

var (
	stringType  = reflect.TypeFor[String]()
	marshaler   = reflect.TypeFor[json.Marshaler]()
	textMarshal = reflect.TypeFor[encoding.TextMarshaler]()
)

// encodesItself reports whether t has its own JSON or text form, which
// is then kept (time.Time, enumerations).
func encodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(marshaler) || t.Implements(textMarshal) || p.Implements(marshaler) || p.Implements(textMarshal)
}

// Wire returns t with every string in it replaced by String. Field
// names, order and tags are kept, so the JSON is the same as t's wherever
// the strings are UTF-8. Unexported fields, which encoding/json skips,
// are left out (a struct that embeds an unexported type is kept as it
// is: encoding/json writes the fields it promotes).
// The types cgscale encodes are not recursive, so the walk ends.
func Wire(t reflect.Type) reflect.Type {
	if w, ok := wires.Load(t); ok {
		return w.(reflect.Type)
	}
	w := wire(t)
	wires.Store(t, w)
	return w
}

// wires holds the Wire type of each type seen so far.
var wires sync.Map // reflect.Type -> reflect.Type

func wire(t reflect.Type) reflect.Type {
	if t != stringType && encodesItself(t) {
		return t
	}
	switch t.Kind() {
	case reflect.String:
		return stringType
	case reflect.Slice:
		return reflect.SliceOf(Wire(t.Elem()))
	case reflect.Pointer:
		return reflect.PointerTo(Wire(t.Elem()))
	case reflect.Map:
		if e := Wire(t.Elem()); e != t.Elem() {
			return reflect.MapOf(t.Key(), e)
		}
		return t
	case reflect.Struct:
		var fields []reflect.StructField
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				if f.Anonymous {
					return t
				}
				continue
			}
			fields = append(fields, reflect.StructField{Name: f.Name, Type: Wire(f.Type), Tag: f.Tag, Anonymous: f.Anonymous})
		}
		return reflect.StructOf(fields)
	}
	return t
}

// Convert copies src into dst, where one's type is the Wire type of the
// other's.
func Convert(dst, src reflect.Value) {
	if src.Type() == dst.Type() {
		dst.Set(src)
		return
	}
	switch src.Kind() {
	case reflect.String:
		dst.SetString(src.String())
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(dst.Type(), src.Len(), src.Len()))
		for i := 0; i < src.Len(); i++ {
			Convert(dst.Index(i), src.Index(i))
		}
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.New(dst.Type().Elem()))
		Convert(dst.Elem(), src.Elem())
	case reflect.Map:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeMapWithSize(dst.Type(), src.Len()))
		for it := src.MapRange(); it.Next(); {
			v := reflect.New(dst.Type().Elem()).Elem()
			Convert(v, it.Value())
			dst.SetMapIndex(it.Key(), v)
		}
	case reflect.Struct:
		// The exported fields, in the same order in both types; the
		// Wire type has no unexported ones.
		j := 0
		for i := 0; i < src.NumField(); i++ {
			if !src.Type().Field(i).IsExported() {
				continue
			}
			for !dst.Type().Field(j).IsExported() {
				j++
			}
			Convert(dst.Field(j), src.Field(i))
			j++
		}
	default:
		dst.Set(src)
	}
}

// Marshal is json.Marshal with every string kept byte for byte: the
// compact form, on one line.
func Marshal(v any) ([]byte, error) {
	return json.Marshal(toWire(v))
}

// MarshalIndent is json.MarshalIndent with every string kept byte for
// byte.
func MarshalIndent(v any, prefix, indent string) ([]byte, error) {
	return json.MarshalIndent(toWire(v), prefix, indent)
}

// toWire returns a copy of v in its Wire type.
func toWire(v any) any {
	src := reflect.ValueOf(v)
	w := reflect.New(Wire(src.Type())).Elem()
	Convert(w, src)
	return w.Interface()
}

// Unmarshal decodes what Marshal or MarshalIndent wrote into v, a pointer.
func Unmarshal(data []byte, v any) error {
	dst := reflect.ValueOf(v)
	if dst.Kind() != reflect.Pointer || dst.IsNil() {
		return errors.New("rawjson: Unmarshal needs a non-nil pointer")
	}
	w := reflect.New(Wire(dst.Elem().Type()))
	if err := json.Unmarshal(data, w.Interface()); err != nil {
		return err
	}
	Convert(dst.Elem(), w.Elem())
	return nil
}
