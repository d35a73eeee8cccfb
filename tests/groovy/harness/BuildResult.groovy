/** What `PipelineHarness.runJenkinsfile` returns: the outcome of one simulated build. */
class BuildResult {

    /** 'SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT' or 'ABORTED'. */
    String result
    /** The console log (secrets masked as ****), ending with `Finished: <result>`. */
    String log
    String description
    String displayName
    /** The exception that ended the build, or null. */
    Throwable error
    /** Stage names in the order they ran (a failing stage is included). */
    List<String> stagesRun = []
    /** Stages skipped by `when`, by an earlier failure, or by skipStagesAfterUnstable. */
    List<String> stagesSkipped = []

    @Override
    String toString() {
        return "BuildResult(${result}, ran ${stagesRun}, skipped ${stagesSkipped}" +
            (error ? ", error ${error}" : '') + ')'
    }

}
