package mpi

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// Command returns the command that runs name with args as np processes of
// this machine under Open MPI's mpirun: --oversubscribe lets np exceed the
// cores, and a root user (in a container, in CI) is allowed through
// Open MPI's environment switches rather than a flag other MPIs lack, and
// shared memory is copied without cross-memory attach. A missing mpirun is
// an error saying how to install it.
func Command(np int, name string, args ...string) (*exec.Cmd, error) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		return nil, fmt.Errorf("mpi: mpirun not found on PATH: %s", installHint)
	}
	cmd := exec.Command(mpirun, append([]string{"--oversubscribe", "-np", strconv.Itoa(np), name}, args...)...)
	cmd.Env = os.Environ()
	if os.Getenv("OMPI_MCA_btl_vader_single_copy_mechanism") == "" {
		// Cross-memory attach needs ptrace rights that containers often
		// withhold; copying through shared memory works everywhere.
		cmd.Env = append(cmd.Env, "OMPI_MCA_btl_vader_single_copy_mechanism=none")
	}
	if os.Geteuid() == 0 {
		cmd.Env = append(cmd.Env, "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	}
	return cmd, nil
}
