package vercelfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// validatePolicy checks a network policy in one of the request forms the API takes: {"mode":"allow-all"},
// {"mode":"deny-all"}, the legacy {"mode":"custom", ...} and the v2 object {"allow": ..., "subnets": ...}.
func validatePolicy(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if str == "allow-all" || str == "deny-all" {
			return nil
		}
		return badRequest("`networkPolicy` should be \"allow-all\", \"deny-all\" or an object.")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return badRequest("`networkPolicy` should be an object.")
	}
	if m, ok := obj["mode"]; ok {
		var mode string
		if err := json.Unmarshal(m, &mode); err != nil {
			return badRequest("`networkPolicy.mode` should be a string.")
		}
		switch mode {
		case "allow-all", "deny-all":
			if len(obj) != 1 {
				return badRequest("`networkPolicy` with mode %q takes no other property.", mode)
			}
			return nil
		case "custom":
			return validateCustom(obj)
		}
		return badRequest("`networkPolicy.mode` should be one of allow-all, deny-all, custom.")
	}
	for k, v := range obj {
		switch k {
		case "allow":
			if err := validateAllow(v); err != nil {
				return err
			}
		case "subnets":
			var sub map[string][]string
			if err := strictDecode(v, &sub); err != nil {
				return badRequest("`networkPolicy.subnets` should be {allow?: string[], deny?: string[]}.")
			}
			for sk, list := range sub {
				if sk != "allow" && sk != "deny" {
					return badRequest("`networkPolicy.subnets` should NOT have additional property `%s`.", sk)
				}
				if err := validateCIDRs(list); err != nil {
					return err
				}
			}
		default:
			return badRequest("`networkPolicy` should NOT have additional property `%s`.", k)
		}
	}
	return nil
}

func validateAllow(v json.RawMessage) error {
	var list []string
	if json.Unmarshal(v, &list) == nil {
		for _, d := range list {
			if !validDomain(d, false) {
				return badRequest("`networkPolicy.allow` has an invalid domain %q.", d)
			}
		}
		return nil
	}
	var rules map[string][]json.RawMessage
	if err := json.Unmarshal(v, &rules); err != nil {
		return badRequest("`networkPolicy.allow` should be a list of domains or an object of domain -> rules.")
	}
	for d, rs := range rules {
		if !validDomain(d, true) {
			return badRequest("`networkPolicy.allow` has an invalid domain %q.", d)
		}
		if rs == nil {
			return badRequest("`networkPolicy.allow[%q]` should be an array of rules.", d)
		}
		for _, r := range rs {
			if err := validateRule(d, r); err != nil {
				return err
			}
		}
	}
	return nil
}

type ruleBody struct {
	Match      json.RawMessage   `json:"match"`
	Transform  []json.RawMessage `json:"transform"`
	ForwardURL *string           `json:"forwardURL"`
	Response   *responseBody     `json:"response"`
}

type responseBody struct {
	StatusCode  int               `json:"statusCode"`
	Headers     map[string]string `json:"headers"`
	Body        *string           `json:"body"`
	ContentType *string           `json:"contentType"`
}

func validateRule(domain string, raw json.RawMessage) error {
	var r ruleBody
	if err := strictDecode(raw, &r); err != nil {
		return badRequest("a rule of %q is invalid: %v", domain, err)
	}
	actions := 0
	if r.Transform != nil {
		actions++
		if len(r.Transform) == 0 {
			return badRequest("the transform of %q is empty.", domain)
		}
		for _, t := range r.Transform {
			var tb struct {
				Headers map[string]string `json:"headers"`
			}
			if err := strictDecode(t, &tb); err != nil {
				return badRequest("a transform of %q is invalid: %v", domain, err)
			}
			for name, value := range tb.Headers {
				if !headerNameRE.MatchString(name) {
					return badRequest("a transform of %q sets an invalid header name %q.", domain, name)
				}
				if value == "" {
					return badRequest("a transform of %q sets header %q to an empty value.", domain, name)
				}
			}
		}
	}
	if r.ForwardURL != nil {
		actions++
		u, err := url.Parse(*r.ForwardURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return badRequest("the forwardURL of %q should be an https URL without query or fragment.", domain)
		}
	}
	if r.Response != nil {
		actions++
		rb := r.Response
		if rb.StatusCode < 200 || rb.StatusCode > 599 {
			return badRequest("the response statusCode of %q should be between 200 and 599.", domain)
		}
		if rb.Body != nil && rb.ContentType == nil {
			return badRequest("contentType must be provided when body is set (%q).", domain)
		}
		if rb.Body != nil && (rb.StatusCode == 204 || rb.StatusCode == 205 || rb.StatusCode == 304) {
			return badRequest("body is not allowed on status codes 204, 205, and 304 (%q).", domain)
		}
		for h := range rb.Headers {
			switch strings.ToLower(h) {
			case "connection", "content-length", "transfer-encoding":
				return badRequest("headers cannot set proxy-managed headers (%q).", domain)
			}
		}
	}
	if actions != 1 {
		return badRequest("a rule of %q must have exactly one of transform, forwardURL or response.", domain)
	}
	if len(r.Match) > 0 {
		if err := validateMatch(domain, r.Match); err != nil {
			return err
		}
	}
	return nil
}

type matcher struct {
	Exact      *string `json:"exact"`
	StartsWith *string `json:"startsWith"`
	Regex      *string `json:"regex"`
}

type kvMatcher struct {
	Key   *matcher `json:"key"`
	Value *matcher `json:"value"`
}

func validateMatch(domain string, raw json.RawMessage) error {
	var m struct {
		Path        *matcher    `json:"path"`
		Method      []string    `json:"method"`
		QueryString []kvMatcher `json:"queryString"`
		Headers     []kvMatcher `json:"headers"`
	}
	if err := strictDecode(raw, &m); err != nil {
		return badRequest("the match of a rule of %q is invalid: %v", domain, err)
	}
	check := func(mt *matcher) error {
		if mt == nil {
			return nil
		}
		n := 0
		for _, p := range []*string{mt.Exact, mt.StartsWith, mt.Regex} {
			if p != nil {
				n++
			}
		}
		if n != 1 {
			return badRequest("a matcher of %q must have exactly one of exact, startsWith, regex.", domain)
		}
		if mt.Regex != nil {
			if _, err := regexp.Compile(*mt.Regex); err != nil {
				return badRequest("a regex of %q does not compile (RE2): %v", domain, err)
			}
		}
		return nil
	}
	if err := check(m.Path); err != nil {
		return err
	}
	for _, kv := range append(m.QueryString, m.Headers...) {
		if err := check(kv.Key); err != nil {
			return err
		}
		if err := check(kv.Value); err != nil {
			return err
		}
	}
	return nil
}

func validateCustom(obj map[string]json.RawMessage) error {
	for k, v := range obj {
		switch k {
		case "mode":
		case "allowedDomains":
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return badRequest("`allowedDomains` should be a list of strings.")
			}
			for _, d := range list {
				if !validDomain(d, false) {
					return badRequest("`allowedDomains` has an invalid domain %q.", d)
				}
			}
		case "allowedCIDRs", "deniedCIDRs":
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return badRequest("`%s` should be a list of strings.", k)
			}
			if err := validateCIDRs(list); err != nil {
				return err
			}
		case "injectionRules":
			var rules []struct {
				Domain  string            `json:"domain"`
				Headers map[string]string `json:"headers"`
				Match   json.RawMessage   `json:"match"`
			}
			if err := strictDecode(v, &rules); err != nil {
				return badRequest("`injectionRules` is invalid: %v", err)
			}
			for _, r := range rules {
				if !validDomain(r.Domain, false) || len(r.Headers) == 0 {
					return badRequest("an injection rule needs a domain and headers.")
				}
				if len(r.Match) > 0 {
					if err := validateMatch(r.Domain, r.Match); err != nil {
						return err
					}
				}
			}
		case "forwardRules":
			var rules []struct {
				Domain     string          `json:"domain"`
				ForwardURL string          `json:"forwardURL"`
				Match      json.RawMessage `json:"match"`
			}
			if err := strictDecode(v, &rules); err != nil {
				return badRequest("`forwardRules` is invalid: %v", err)
			}
			for _, r := range rules {
				u, err := url.Parse(r.ForwardURL)
				if !validDomain(r.Domain, false) || err != nil || u.Scheme != "https" {
					return badRequest("a forward rule needs a domain and an https forwardURL.")
				}
			}
		default:
			return badRequest("`networkPolicy` should NOT have additional property `%s`.", k)
		}
	}
	return nil
}

func validateCIDRs(list []string) error {
	for _, c := range list {
		if _, _, err := net.ParseCIDR(c); err != nil {
			return badRequest("%q is not a CIDR.", c)
		}
	}
	return nil
}

// validDomain accepts host names with an optional leading "*." wildcard (and "*" alone where allowed).
func validDomain(d string, allowStar bool) bool {
	if d == "*" {
		return allowStar
	}
	d = strings.TrimPrefix(d, "*.")
	if d == "" || len(d) > 253 || strings.ContainsAny(d, "/:@ *?#") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// redactPolicy gives the response form of a policy: {"mode": ...}, or the legacy custom form in which
// injection rules carry header names only, never values.
func redactPolicy(raw json.RawMessage) any {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return map[string]any{"mode": str}
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	if m, ok := obj["mode"]; ok {
		var mode string
		_ = json.Unmarshal(m, &mode)
		if mode != "custom" {
			return map[string]any{"mode": mode}
		}
		out := map[string]any{"mode": "custom"}
		for _, k := range []string{"allowedDomains", "allowedCIDRs", "deniedCIDRs", "forwardRules"} {
			if v, ok := obj[k]; ok {
				out[k] = v
			}
		}
		if v, ok := obj["injectionRules"]; ok {
			var rules []struct {
				Domain  string            `json:"domain"`
				Headers map[string]string `json:"headers"`
				Match   json.RawMessage   `json:"match,omitempty"`
			}
			_ = json.Unmarshal(v, &rules)
			var red []map[string]any
			for _, r := range rules {
				red = append(red, injection(r.Domain, headerNames(r.Headers), r.Match))
			}
			out["injectionRules"] = red
		}
		return out
	}
	out := map[string]any{"mode": "custom"}
	if v, ok := obj["allow"]; ok {
		var list []string
		if json.Unmarshal(v, &list) == nil {
			out["allowedDomains"] = list
		} else {
			var rules map[string][]ruleBody
			_ = json.Unmarshal(v, &rules)
			domains := make([]string, 0, len(rules))
			for d := range rules {
				domains = append(domains, d)
			}
			sort.Strings(domains)
			var inj, fwd []map[string]any
			for _, d := range domains {
				for _, r := range rules[d] {
					switch {
					case r.Transform != nil:
						set := map[string]string{}
						for _, t := range r.Transform {
							var tb struct {
								Headers map[string]string `json:"headers"`
							}
							_ = json.Unmarshal(t, &tb)
							for k, v := range tb.Headers {
								set[k] = v
							}
						}
						inj = append(inj, injection(d, headerNames(set), r.Match))
					case r.ForwardURL != nil:
						fr := map[string]any{"domain": d, "forwardURL": *r.ForwardURL}
						if len(r.Match) > 0 {
							fr["match"] = r.Match
						}
						fwd = append(fwd, fr)
					}
				}
			}
			out["allowedDomains"] = domains
			if inj != nil {
				out["injectionRules"] = inj
			}
			if fwd != nil {
				out["forwardRules"] = fwd
			}
		}
	}
	if v, ok := obj["subnets"]; ok {
		var sub map[string][]string
		_ = json.Unmarshal(v, &sub)
		if a := sub["allow"]; a != nil {
			out["allowedCIDRs"] = a
		}
		if d := sub["deny"]; d != nil {
			out["deniedCIDRs"] = d
		}
	}
	return out
}

func injection(domain string, names []string, match json.RawMessage) map[string]any {
	r := map[string]any{"domain": domain, "headerNames": names}
	if len(match) > 0 {
		r["match"] = match
	}
	return r
}

func headerNames(h map[string]string) []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func readAllLimited(r *http.Request, n int64) (json.RawMessage, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, n))
	if err != nil {
		return nil, badRequest("cannot read the body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("a JSON body is required.")
	}
	return b, nil
}
