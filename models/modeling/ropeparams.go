package modeling

import "fmt"

// RopeParameters is how transformers 5 writes a config's rope_theta and
// rope_scaling: as one object, "rope_parameters".
type RopeParameters struct {
	RopeTheta float64 `json:"rope_theta,omitempty"`
	RopeScaling
}

// Fold moves rope_parameters into the older fields rope_theta and
// rope_scaling (theta and scaling, which families keep as they are the
// config.json fields of every older checkpoint), refusing a config that
// gives both layouts with different values. path names the config in
// errors. A nil rp leaves both as they are.
func (rp *RopeParameters) Fold(path string, theta *float64, scaling **RopeScaling) error {
	if rp == nil {
		return nil
	}
	if *theta != 0 && rp.RopeTheta != 0 && *theta != rp.RopeTheta {
		return fmt.Errorf("%s: field \"rope_theta\" (%v) and \"rope_parameters.rope_theta\" (%v) differ", path, *theta, rp.RopeTheta)
	}
	if rp.RopeTheta != 0 {
		*theta = rp.RopeTheta
	}
	if rp.Kind() != "default" {
		if *scaling != nil && **scaling != rp.RopeScaling {
			return fmt.Errorf("%s: fields \"rope_scaling\" and \"rope_parameters\" give different scalings", path)
		}
		s := rp.RopeScaling
		*scaling = &s
	}
	return nil
}
