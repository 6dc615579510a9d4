#include <mpi.h>

// OpenMPI spells MPI_COMM_WORLD, the datatypes and MPI_IN_PLACE as macros over casts of global
// symbols, which Swift does not import; these functions hand them over (MPICH's integer
// handles come through the same way).
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
// A duplicate of `comm` (Swift sees OpenMPI's handle as an optional pointer and MPICH's as an
// integer; returning it by value spares the caller that difference).
static inline MPI_Comm cmpi_comm_dup(MPI_Comm comm) { MPI_Comm copy; MPI_Comm_dup(comm, &copy); return copy; }
