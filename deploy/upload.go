package deploy

import (
	"context"
	"fmt"
	"strings"

	"bootstrap/secrets"
)

// upload writes the changed files (each atomically), then removes the ones
// the workspace no longer has.
func (p *pusher) upload(ctx context.Context) error {
	var removed []string
	for _, c := range p.res.Changes {
		if c.Kind == Removed {
			removed = append(removed, c.File)
			continue
		}
		p.logf("upload %s/%s\n", NixOSDir, c.File)
		if err := p.r.WriteFile(ctx, NixOSDir+"/"+c.File, c.New, 0o644); err != nil {
			return err
		}
	}
	if len(removed) > 0 {
		if err := p.run(ctx, removeCmd(removed)); err != nil {
			return err
		}
	}
	p.step("upload", "%s to %s", Summary(p.res.Changes), NixOSDir)
	return nil
}

// restoreFiles puts /etc/nixos back as it was before the upload.
func (p *pusher) restoreFiles(ctx context.Context) error {
	var added []string
	for _, c := range p.res.Changes {
		if c.Kind == Added {
			added = append(added, c.File)
			continue
		}
		if err := p.r.WriteFile(ctx, NixOSDir+"/"+c.File, c.Old, 0o644); err != nil {
			return fmt.Errorf("restore %s/%s: %w", NixOSDir, c.File, err)
		}
	}
	if len(added) > 0 {
		if err := p.run(ctx, removeCmd(added)); err != nil {
			return fmt.Errorf("remove the uploaded %s: %w", strings.Join(added, ", "), err)
		}
	}
	p.logf("restored %s as it was before the push\n", NixOSDir)
	return nil
}

func (p *pusher) pushSecrets(ctx context.Context) error {
	if p.t.Secrets.Empty() {
		return nil
	}
	res, err := p.t.Secrets.Push(ctx, p.r, false)
	if err != nil {
		return fmt.Errorf("push secrets to %s: %w", p.t.Name, err)
	}
	p.res.Secrets = res.Written
	p.step("secrets", "%d to %s: %s", len(res.Written), secrets.Dir, strings.Join(res.Written, ", "))
	return nil
}
