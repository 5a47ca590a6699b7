package auth

import (
	"fmt"
	"os/user"
	"regexp"
)

// loginRE is a portable POSIX user name, as useradd accepts by default:
// lower case, starting with a letter or underscore, at most 32 bytes. A
// leading dash, which would read as an option, cannot match.
var loginRE = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// CheckLogin returns an error saying why name cannot be an SSH login (the
// OS user a token may log in as), or nil.
func CheckLogin(name string) error {
	if !loginRE.MatchString(name) {
		return fmt.Errorf("login %q is not a user name: use 1-32 of a-z 0-9 _ . - starting with a letter or _", name)
	}
	return nil
}

// LocalLogin is the name of the user running this process, or "" if it is
// unknown or not a valid login (CheckLogin).
func LocalLogin() string {
	u, err := user.Current()
	if err != nil || CheckLogin(u.Username) != nil {
		return ""
	}
	return u.Username
}
