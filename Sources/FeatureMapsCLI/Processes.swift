import ArgumentParser
import FeatureMaps
import Foundation
import Kernels
import Training
#if MPI
import Distributed
#endif

/// The processes a command runs as: one alone, or the N that an MPI launcher (`mpirun -np N`)
/// started, joined over MPI when the executable was built with the MPI trait. The one place the
/// command line decides whether it is distributed, and the owner of MPI's lifetime in the process.
package struct Processes {
    /// The collectives the trainer calls (no-ops alone).
    package let communicator: any Communicator
    private let finishMPI: () -> Void
    private let abortMPI: (Int32) -> Never

    /// Whether `environment` is that of a process an MPI launcher started: OpenMPI's mpirun,
    /// MPICH's Hydra, or a PMIx launcher such as SLURM's srun.
    package static func launchedSize(environment: [String: String]) -> Int? {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"].lazy.compactMap { environment[$0].flatMap { Int($0) } }.first
    }

    /// Kernel threads per process when none are asked for: the host's cores shared by the
    /// processes the launcher started on it, so N ranks on one host do not oversubscribe it.
    package static func defaultThreads(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        max(1, ProcessInfoCores.active / max(1, localSize(environment: environment) ?? 1))
    }

    /// Whether gradient sums overlap the backward pass when neither `--overlap-gradients` nor
    /// `--no-overlap-gradients` is given: when the job spans hosts, that is when this host runs
    /// fewer of its ranks than the launcher started. Measured (Docs/DISTRIBUTED.md, airbench, 2
    /// ranks x 1 thread, Zen 4): on one host the sums go through shared memory in milliseconds,
    /// so there is little to hide, and the summing thread competes with the kernels for the
    /// cores (no gain beyond the noise); across a 100 Mbit/s link the backward pass hides much of
    /// the transfer (18% more images/s).
    package static func defaultOverlap(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let size = launchedSize(environment: environment), size > 1 else { return false }
        return localSize(environment: environment).map { $0 < size } ?? false
    }

    /// How many of the job's processes the launcher started on this host (OpenMPI, MPICH).
    private static func localSize(environment: [String: String]) -> Int? {
        ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"].lazy.compactMap { environment[$0].flatMap { Int($0) } }.first
    }

    /// Whether this executable was built with the MPI trait.
    package static var builtWithMPI: Bool {
        #if MPI
        true
        #else
        false
        #endif
    }

    /// This process alone, or joined to the others when a launcher started several.
    package static func join(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Processes {
        let launched = launchedSize(environment: environment) ?? 1
        #if MPI
        if launched > 1 {
            let mpi = MPICommunicator()
            return Processes(communicator: mpi, finishMPI: mpi.finish, abortMPI: mpi.abort(status:))
        }
        #else
        if launched > 1 {
            throw CommandFailure("started as one of \(launched) MPI processes, but this featuremaps was built without MPI; "
                + "build it with: swift build -c release --traits MPI --scratch-path .build-mpi (Docs/DISTRIBUTED.md)")
        }
        #endif
        return Processes(communicator: SingleProcess(), finishMPI: {}, abortMPI: { exit($0) })
    }

    package var isRoot: Bool { communicator.rank == 0 }

    /// Runs `body` on every process and ends MPI after it. A failure on one process ends them
    /// all: it prints its line (unless it only stopped because another failed) and aborts the
    /// job, since the others may be waiting for it in a collective. An interrupted run
    /// (`ExitCode`) stopped on every rank at the same step, so it ends normally.
    package func run(_ body: () throws -> Void) throws {
        guard communicator.size > 1 else { return try body() }
        do {
            try body()
        } catch let error as ExitCode {
            finishMPI()
            throw error
        } catch {
            if !(error is PeerFailed) {
                printToStandardError("featuremaps: rank \(communicator.rank) of \(communicator.size): \(Messages.line(for: error))\n")
            }
            abortMPI(1)
        }
        finishMPI()
    }
}
