package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// scanRefreshSeconds is how often a page following a scan reloads.
const scanRefreshSeconds = 2

// clusterRoutes are the clusters forms: admins' only, refused to viewers whatever the
// page showed them. The pages themselves are in clusters.go.
func (u *UI) clusterRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(u.requireAdminUI)
		r.Post("/clusters", u.handle(u.addClusterForm))
		r.Post("/clusters/{name}", u.handle(u.editClusterForm))
		r.Post("/clusters/{name}/scans", u.handle(u.scanNowForm))
		r.Get("/clusters/{name}/delete", u.handle(u.deleteClusterPage))
		r.Post("/clusters/{name}/delete", u.handle(u.deleteClusterForm))
	})
}

func isAdmin(r *http.Request) bool { return access.PrincipalOf(r.Context()).IsAdmin() }

// addClusterActions is the clusters list's add form for an admin (form as posted, or a
// fresh one when nil); nil for a viewer.
func (u *UI) addClusterActions(r *http.Request, form *web.ClusterForm, clusters int) templ.Component {
	if !isAdmin(r) {
		return nil
	}
	if form == nil {
		form = &web.ClusterForm{Interval: request.FormatDuration(request.DefaultScanInterval), Annotate: "off", Enabled: true,
			ScanMode: store.ScanModePoll}
	}
	return web.ClusterAdd(*form, clusters)
}

// clusterForms is what an admin's controls on a cluster's page show beyond the stored
// settings.
type clusterForms struct {
	watch     string           // the scan to follow, ?scan=
	edit      *web.ClusterEdit // the settings form as posted; nil: the stored settings
	scanError string
	before    int64 // the scans listed are older than this one; 0 from the newest
}

// clusterActions is an admin's controls on cluster cs's page, nil for a viewer. A scan
// followed and not finished makes the page reload (m.Refresh).
func (u *UI) clusterActions(r *http.Request, cs store.ClusterStatus, f clusterForms, m *web.Meta) (templ.Component, error) {
	if !isAdmin(r) || !u.groupInScope(r, cs.Group) {
		return nil, nil // a viewer, or an admin of other groups who reads this one
	}
	a := web.ClusterActions{
		Name: cs.Name,
		Edit: web.ClusterEdit{Group: cs.Group, Interval: request.FormatDuration(cs.ScanInterval), Annotate: cs.Annotate, Enabled: cs.Enabled,
			ScanMode: cs.ScanMode},
		ScanError: f.scanError,
	}
	if f.edit != nil {
		a.Edit = *f.edit
	}
	if f.watch != "" {
		id, err := request.PathID(f.watch, "scan")
		if err != nil {
			return nil, err
		}
		rec, err := u.st.ScanRecordByID(r.Context(), id, scopeOf(r.Context()))
		if err == nil && rec.ClusterID != cs.ID {
			err = store.ErrNotFound
		}
		if err != nil {
			return nil, request.About(err, "scan %d of cluster %q", id, cs.Name)
		}
		row := scanRow(rec.Scan)
		a.Watched = &row
		if !row.Finished() {
			m.Refresh = scanRefreshSeconds
		}
	}
	return web.ClusterActionsPanel(a), nil
}

// readClusterForm reads the add form: multipart (a file may be uploaded) or urlencoded.
// The uploaded file, when one is chosen, wins over the pasted text.
func readClusterForm(w http.ResponseWriter, r *http.Request) (web.ClusterForm, error) {
	r.Body = http.MaxBytesReader(w, r.Body, request.MaxClusterBody)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(request.MaxClusterBody)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return web.ClusterForm{}, request.Errorf(http.StatusRequestEntityTooLarge, "form larger than %d bytes: a kubeconfig may be %d", tooBig.Limit, request.MaxKubeconfig)
		}
		return web.ClusterForm{}, request.Errorf(http.StatusBadRequest, "unreadable form")
	}
	f := web.ClusterForm{
		Name:       strings.TrimSpace(r.PostFormValue("name")),
		Kubeconfig: r.PostFormValue("kubeconfig"),
		Context:    r.PostFormValue("context"),
		Group:      strings.TrimSpace(r.PostFormValue("group")),
		Interval:   strings.TrimSpace(r.PostFormValue("interval")),
		Annotate:   r.PostFormValue("annotate"),
		Enabled:    r.PostFormValue("enabled") == "true",
		ScanMode:   r.PostFormValue("mode"),
	}
	if r.MultipartForm != nil {
		if fhs := r.MultipartForm.File["file"]; len(fhs) > 0 && fhs[0].Size > 0 {
			file, err := fhs[0].Open()
			if err != nil {
				return f, fmt.Errorf("read uploaded kubeconfig: %w", err)
			}
			defer file.Close()
			b, err := io.ReadAll(io.LimitReader(file, request.MaxKubeconfig+1))
			if err != nil {
				return f, fmt.Errorf("read uploaded kubeconfig: %w", err)
			}
			f.Kubeconfig = string(b)
		}
		defer r.MultipartForm.RemoveAll()
	}
	return f, nil
}

// placeFieldError puts a kubeconfig refusal next to the form field it is about: the
// context for a context that is missing or absent, the kubeconfig for everything else.
func placeFieldError(f *web.ClusterForm, fe *kubeconfig.FieldError) {
	msg := fe.Error()
	switch {
	case fe.Field == "current-context" || strings.HasPrefix(fe.Field, "contexts[") && !strings.Contains(fe.Field, "]."):
		f.ContextError = msg
	default:
		f.KubeconfigError = msg
	}
}

// addClusterForm registers a cluster. When the kubeconfig holds several contexts and
// none was chosen, the form comes back with them to choose from; a refusal comes back
// next to its field, and nothing is stored.
func (u *UI) addClusterForm(w http.ResponseWriter, r *http.Request) error {
	f, err := readClusterForm(w, r)
	if err != nil {
		return err
	}
	f.Open = true
	nc, ok := u.checkClusterForm(r, &f)
	if ok {
		c, err := u.st.RegisterCluster(r.Context(), nc, access.Audit(r))
		switch {
		case err == nil:
			u.log.Info("cluster registered", "cluster", c.Name, "server", c.Server, "actor", access.PrincipalOf(r.Context()).Actor)
			return seeOther(w, r, web.ClusterURL(c.Name))
		case errors.Is(err, store.ErrConflict):
			f.NameError = "A cluster of this name exists: choose another name."
		default:
			return request.About(err, "cluster %q", nc.Name)
		}
	}
	return u.renderClusters(w, r, http.StatusUnprocessableEntity, &f)
}

// groupNameHint says what a group name may be.
const groupNameHint = "1 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit."

// checkClusterForm validates the add form of request r and vets its kubeconfig, setting the errors
// on f; it returns the cluster to register when all is well.
func (u *UI) checkClusterForm(r *http.Request, f *web.ClusterForm) (store.NewCluster, bool) {
	nc := store.NewCluster{ScanInterval: request.DefaultScanInterval, Annotate: "off", Enabled: f.Enabled}
	if f.Interval != "" {
		d, err := time.ParseDuration(f.Interval)
		switch {
		case err != nil:
			f.IntervalError = "A duration such as 5m or 1h30m."
		case d < request.MinScanInterval:
			f.IntervalError = "At least " + request.FormatDuration(request.MinScanInterval) + "."
		default:
			nc.ScanInterval = d
		}
	}
	if f.Annotate != "" {
		if request.CheckAnnotate(f.Annotate) != nil {
			f.AnnotateError = "Choose off or on."
		} else {
			nc.Annotate = f.Annotate
		}
	}
	switch f.ScanMode {
	case "":
		// Not sent: polled, the default.
	case store.ScanModePoll, store.ScanModeWatch:
		nc.ScanMode = f.ScanMode
	default:
		f.ScanModeError = "Choose poll or watch."
	}
	if f.Group != "" {
		if store.ValidGroupName(f.Group) != nil {
			f.GroupError = groupNameHint
		} else {
			nc.Group = f.Group
		}
	}
	if f.GroupError == "" && !u.groupInScope(r, f.Group) {
		f.GroupError = scopedGroupHint
	}
	if f.Name != "" && !request.ClusterName.MatchString(f.Name) {
		f.NameError = "1 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit."
	}
	if strings.TrimSpace(f.Kubeconfig) == "" {
		f.KubeconfigError = "Paste a kubeconfig or choose its file."
		return nc, false
	}
	if len(f.Kubeconfig) > request.MaxKubeconfig {
		f.KubeconfigError = fmt.Sprintf("Larger than %d bytes.", request.MaxKubeconfig)
		f.Kubeconfig = ""
		return nc, false
	}
	names, current, err := kubeconfig.Contexts([]byte(f.Kubeconfig))
	var fe *kubeconfig.FieldError
	if errors.As(err, &fe) {
		placeFieldError(f, fe)
		return nc, false
	}
	if err != nil {
		f.KubeconfigError = "Unreadable kubeconfig."
		return nc, false
	}
	f.Contexts = names
	if f.Context == "" {
		switch {
		case len(names) == 1:
			f.Context = names[0]
		default:
			f.Context = current
			f.ContextError = fmt.Sprintf("This kubeconfig holds %d contexts: choose the one to scan.", len(names))
			return nc, false
		}
	}
	vetted, err := u.vet.Vet(f.Kubeconfig, f.Context)
	if errors.As(err, &fe) {
		placeFieldError(f, fe)
		return nc, false
	}
	if err != nil {
		f.KubeconfigError = "The kubeconfig could not be vetted."
		u.log.Error("vet kubeconfig", "error", err.Error())
		return nc, false
	}
	if f.Name == "" {
		if !request.ClusterName.MatchString(vetted.Context) {
			f.NameError = "The context's name cannot name a cluster here: give a name."
		} else {
			f.Name = vetted.Context
		}
	}
	if f.NameError != "" || f.GroupError != "" || f.IntervalError != "" || f.AnnotateError != "" || f.ScanModeError != "" {
		return nc, false
	}
	nc.Name, nc.Server, nc.Context, nc.Credentials = f.Name, vetted.Server, vetted.Context, vetted.Sealed
	return nc, true
}

func (u *UI) editClusterForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	name := request.PathParam(r, "name")
	e := web.ClusterEdit{Group: strings.TrimSpace(r.PostForm.Get("group")), Interval: strings.TrimSpace(r.PostForm.Get("interval")),
		Annotate: r.PostForm.Get("annotate"), Enabled: r.PostForm.Get("enabled") == "true", ScanMode: r.PostForm.Get("mode")}
	var ch store.ClusterChange
	switch {
	case e.Group == "":
		// Left empty: the group stays.
	case store.ValidGroupName(e.Group) != nil:
		e.GroupError = groupNameHint
	case !u.groupInScope(r, e.Group):
		e.GroupError = scopedGroupHint
	default:
		ch.Group = &e.Group
	}
	d, err := time.ParseDuration(e.Interval)
	switch {
	case err != nil:
		e.IntervalError = "A duration such as 5m or 1h30m."
	case d < request.MinScanInterval:
		e.IntervalError = "At least " + request.FormatDuration(request.MinScanInterval) + "."
	default:
		ch.ScanInterval = &d
	}
	if request.CheckAnnotate(e.Annotate) != nil {
		e.AnnotateError = "Choose off or on."
	} else {
		ch.Annotate = &e.Annotate
	}
	switch e.ScanMode {
	case "":
		// Not sent: the mode stays.
	case store.ScanModePoll, store.ScanModeWatch:
		ch.ScanMode = &e.ScanMode
	default:
		e.ScanModeError = "Choose poll or watch."
	}
	ch.Enabled = &e.Enabled
	if e.GroupError != "" || e.IntervalError != "" || e.AnnotateError != "" || e.ScanModeError != "" {
		return u.renderCluster(w, r, http.StatusUnprocessableEntity, name, clusterForms{edit: &e})
	}
	// Outside what the principal reads, the cluster does not exist.
	cs, err := u.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	if err := u.administers(r, cs); err != nil {
		return err
	}
	ch.Within = adminScopeOf(r.Context())
	if _, err := u.st.UpdateCluster(r.Context(), name, ch, access.Audit(r)); err != nil {
		return request.About(err, "cluster %q", name)
	}
	return seeOther(w, r, web.ClusterURL(name))
}

// scanNowForm asks for a scan and follows it on the cluster's page.
func (u *UI) scanNowForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	name := request.PathParam(r, "name")
	cs, err := u.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	if err := u.administers(r, cs); err != nil {
		return err
	}
	if !cs.Enabled {
		// The scheduler cancels scans of disabled clusters: it would stay queued for ever.
		return u.renderCluster(w, r, http.StatusConflict, name, clusterForms{scanError: "This cluster is disabled: enable it in its settings first."})
	}
	if u.scans == nil {
		return fmt.Errorf("scan cluster %q: no scheduler configured", name)
	}
	id, err := u.scans.ScanNow(r.Context(), cs.ID, access.Audit(r))
	if err != nil {
		return request.About(err, "scan cluster %q", name)
	}
	return seeOther(w, r, web.WithQuery(web.ClusterURL(name), "scan", strconv.FormatInt(id, 10)))
}

func (u *UI) deleteClusterView(r *http.Request, name string) (web.ConfirmView, error) {
	cs, err := u.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return web.ConfirmView{}, request.About(err, "cluster %q", name)
	}
	if err := u.administers(r, cs); err != nil {
		return web.ConfirmView{}, err
	}
	return web.ConfirmView{
		Title:    "Delete cluster " + name,
		Question: fmt.Sprintf("Delete the cluster %s (%s)?", name, cs.Server),
		Details: []string{
			"Deleting stops its scans and drops its credentials; its history stays readable: where images ran, its scans and mutations.",
			"Purge also removes everything recorded about it: every scan, every observation interval and its mutations. This cannot be undone.",
			"Its open mutations are resolved, and the tag-divergences it took part in are checked again among the clusters left.",
		},
		Action: web.ClusterActionURL(name, "delete"), Button: "Delete " + name, Back: web.ClusterURL(name),
		Confirm: name, Purge: true,
	}, nil
}

func (u *UI) deleteClusterPage(w http.ResponseWriter, r *http.Request) error {
	v, err := u.deleteClusterView(r, request.PathParam(r, "name"))
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, u.meta(r, v.Title, web.NavClusters), web.ConfirmPage(v))
}

// deleteClusterForm deletes a cluster once its name is typed, purging when asked.
func (u *UI) deleteClusterForm(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	name := request.PathParam(r, "name")
	if r.PostForm.Get("confirm") != name {
		v, err := u.deleteClusterView(r, name)
		if err != nil {
			return err
		}
		v.ConfirmError = "Type the cluster's name exactly, to confirm."
		return u.render(w, r, http.StatusUnprocessableEntity, u.meta(r, v.Title, web.NavClusters), web.ConfirmPage(v))
	}
	purge := r.PostForm.Get("purge") == "true"
	cs, err := u.st.ClusterStatusByName(r.Context(), name, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	if err := u.administers(r, cs); err != nil {
		return err
	}
	deleted, err := u.st.DeleteClusterWithin(r.Context(), name, purge, adminScopeOf(r.Context()), access.Audit(r))
	if err != nil {
		return request.About(err, "cluster %q", name)
	}
	// The deletion queued the references the cluster ran for a recheck; ask for it now.
	// When that fails they stay queued for the scheduler's next tick.
	if u.scans != nil {
		if err := u.scans.Recheck(context.WithoutCancel(r.Context())); err != nil {
			u.log.Warn("ask for a recheck after a cluster deletion", "cluster", name, "refs", len(deleted.Refs), "error", err.Error())
		}
	}
	u.log.Info("cluster deleted", "cluster", name, "purge", purge, "actor", access.PrincipalOf(r.Context()).Actor)
	return seeOther(w, r, "/clusters")
}

// scopedGroupHint is the error of a group outside a scoped admin's groups.
const scopedGroupHint = "Choose one of your cluster groups: an admin of some groups adds and moves clusters within them."

// administers refuses, with a 403, a change of cluster cs, which the principal reads,
// when it does not administer it (one it cannot read is a 404 before this). The store
// checks again under the cluster's row lock.
func (u *UI) administers(r *http.Request, cs store.ClusterStatus) error {
	if u.groupInScope(r, cs.Group) {
		return nil
	}
	return request.Errorf(http.StatusForbidden, "cluster %s is in cluster group %s, which you may read but not administer", cs.Name, cs.Group)
}

// groupInScope reports whether a cluster may go to group ("" the default group), or be
// changed there, by what the principal administers: any group for an admin of every
// cluster, one of their own for an admin of some groups. A failed look-up answers no.
func (u *UI) groupInScope(r *http.Request, group string) bool {
	sc := adminScopeOf(r.Context())
	if !sc.Limited {
		return true
	}
	if group == "" {
		group = store.DefaultGroup
	}
	gs, err := u.st.Groups(r.Context(), sc)
	if err != nil {
		return false
	}
	for _, g := range gs {
		if g.Name == group {
			return true
		}
	}
	return false
}
