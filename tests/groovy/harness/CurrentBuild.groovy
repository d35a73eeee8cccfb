/**
 * Jenkins' `currentBuild` (RunWrapper). `result` reads 'SUCCESS' until something worse happens
 * (in Jenkins it reads null while the build runs; `currentResult` is the same here and there).
 * Like Run.setResult, assigning a result can only make it worse; unknown names count as FAILURE.
 */
class CurrentBuild {

    static final List<String> ORDER = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']

    int number = 1
    String description
    String projectName = 'mlops-test'
    long startTimeInMillis = System.currentTimeMillis()
    List buildCauses = []
    List changeSets = []
    Object previousBuild = null
    boolean keepLog = false

    private String displayNameValue
    private String resultValue = 'SUCCESS'

    /**
     * MOCK of Jenkins' RunWrapper.getBuildCauses(String className): the causes in `buildCauses` of that
     * class. Give causes as Jenkins returns them, e.g. [_class: 'hudson.triggers.TimerTrigger$TimerTriggerCause',
     * shortDescription: 'Started by timer']; a cause that is not a Map matches when the class name contains its text.
     */
    List getBuildCauses(String className) {
        return buildCauses.findAll { cause ->
            cause instanceof Map ? ((Map) cause)._class == className : className.contains(cause.toString())
        }
    }

    String getResult() {
        return resultValue
    }

    void setResult(Object value) {
        if (value == null) {
            return
        }
        resultValue = worst(resultValue, normalise(value))
    }

    String getCurrentResult() {
        return resultValue
    }

    String getDisplayName() {
        return displayNameValue ?: "#${number}".toString()
    }

    void setDisplayName(Object value) {
        displayNameValue = value?.toString()
    }

    String getFullDisplayName() {
        return "${projectName} ${getDisplayName()}".toString()
    }

    String getId() {
        return number.toString()
    }

    String getAbsoluteUrl() {
        return "http://localhost:8080/job/${projectName}/${number}/".toString()
    }

    long getDuration() {
        return System.currentTimeMillis() - startTimeInMillis
    }

    String getDurationString() {
        return "${getDuration()} ms and counting".toString()
    }

    boolean resultIsBetterOrEqualTo(String other) {
        return ORDER.indexOf(resultValue) <= ORDER.indexOf(normalise(other))
    }

    boolean resultIsWorseOrEqualTo(String other) {
        return ORDER.indexOf(resultValue) >= ORDER.indexOf(normalise(other))
    }

    static String normalise(Object value) {
        String s = value.toString().trim().toUpperCase()
        return ORDER.contains(s) ? s : 'FAILURE'
    }

    static String worst(String a, String b) {
        if (a == null) {
            return b
        }
        if (b == null) {
            return a
        }
        return ORDER.indexOf(b) > ORDER.indexOf(a) ? b : a
    }

    @Override
    String toString() {
        return "currentBuild(${getFullDisplayName()}, ${resultValue})"
    }

}
