package bootstrap

import (
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// KeyError: the recipe's verification key cannot be read. Release keys
// are not bundled in every checkout, so the message says where to look.
type KeyError struct {
	Recipe, Path string
	Err          error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%s: source.key: %v (keys/README.md beside the shipped recipes says which key file is expected and how to obtain and check it)",
		e.Recipe, e.Err)
}

func (e *KeyError) Unwrap() error { return e.Err }

// recipeKeyring loads the key file the recipe names, relative to it.
func recipeKeyring(r *recipe.Recipe, key string) (openpgp.EntityList, error) {
	path := r.HostPath(key)
	keys, err := pgpverify.LoadKeyring(path)
	if err != nil {
		return nil, &KeyError{Recipe: r.File, Path: path, Err: err}
	}
	return keys, nil
}
