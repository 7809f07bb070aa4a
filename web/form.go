package web

// FieldSpec is one labelled form field; Error, when set, is shown next to it and marks
// it invalid for assistive technology.
type FieldSpec struct {
	ID, Name, Label string
	Type            string // input type; "" for text
	Value           string
	Hint            string // shown under the label
	Error           string
	Autocomplete    string // "" for off
	Required        bool
	Autofocus       bool
	Placeholder     string
}

// InputType is the field's input type.
func (f FieldSpec) InputType() string {
	if f.Type == "" {
		return "text"
	}
	return f.Type
}

// Described is the aria-describedby of the field: its hint and its error.
func (f FieldSpec) Described() string {
	s := ""
	if f.Hint != "" {
		s = f.ID + "-hint"
	}
	if f.Error != "" {
		if s != "" {
			s += " "
		}
		s += f.ID + "-error"
	}
	return s
}

// AutocompleteValue is the autocomplete attribute.
func (f FieldSpec) AutocompleteValue() string {
	if f.Autocomplete == "" {
		return "off"
	}
	return f.Autocomplete
}
