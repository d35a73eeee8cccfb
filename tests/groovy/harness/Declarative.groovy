/*
 * Declarative Pipeline (`pipeline { ... }`) for the harness: the model it is read into and the
 * delegates that read each section. PipelineHarness runs the model (see runDeclarative).
 *
 * Reading: each section closure runs once with a delegate (DELEGATE_FIRST) that records what it
 * declares; closures that Jenkins runs later (steps, when, environment, post conditions) are kept.
 * After reading, every section closure gets its default delegate back, so that steps called later
 * from a nested closure resolve through the owning script, never through a stale reader.
 */

class DeclarativeModel {
    Map agent
    Map options = [:]
    List<Map> parameters = []
    Map triggers = [:]
    Map tools = [:]
    Closure environment
    List<StageModel> stages = []
    Map<String, Closure> post = [:]
}

class StageModel {
    String name
    Map agent
    Closure when
    Closure environment
    Map options = [:]
    Map input
    Closure steps
    Map<String, Closure> post = [:]
    List<StageModel> parallel
    List<StageModel> stages
    boolean failFast
    Map tools = [:]

    List<StageModel> children() {
        return (parallel ?: []) + (stages ?: [])
    }
}

/** A `credentials('id')` value in an `environment {}` block. */
class CredentialRef {
    final String id

    CredentialRef(String id) {
        this.id = id
    }
}

class DslSupport {

    static void read(Closure body, Object reader) {
        if (body == null) {
            return
        }
        body.resolveStrategy = Closure.DELEGATE_FIRST
        body.delegate = reader
        try {
            body.call()
        } finally {
            body.delegate = body.owner
            body.resolveStrategy = Closure.OWNER_FIRST
        }
    }

    /** GString → String, recursively through maps and lists (what Jenkins hands to steps). */
    static Object plain(Object value) {
        if (value instanceof GString) {
            return value.toString()
        }
        if (value instanceof Map) {
            Map m = [:]
            ((Map) value).each { k, v -> m[k instanceof GString ? k.toString() : k] = plain(v) }
            return m
        }
        if (value instanceof List) {
            return ((List) value).collect { plain(it) }
        }
        return value
    }

    static Object settingValue(Object[] args) {
        if (args.length == 0) {
            return true
        }
        if (args.length == 1) {
            return plain(args[0])
        }
        return (args as List).collect { plain(it) }
    }
}

/** Records `name value` settings whose names are in `allowed` (null: any name) into `target`. */
class SettingsReader {
    final Map target
    final Collection<String> allowed

    SettingsReader(Map target, Collection<String> allowed) {
        this.target = target
        this.allowed = allowed
    }

    Object methodMissing(String name, Object args) {
        Object[] argv = args as Object[]
        if (allowed != null && !allowed.contains(name)) {
            // Not ours: let the closure try its owner (a step, a var, a local method).
            throw new MissingMethodException(name, getClass(), argv)
        }
        target[name] = DslSupport.settingValue(argv)
        return null
    }
}

class OptionsReader extends SettingsReader {
    static final List<String> OPTIONS = ['timeout', 'buildDiscarder', 'timestamps', 'disableConcurrentBuilds',
        'retry', 'skipDefaultCheckout', 'skipStagesAfterUnstable', 'ansiColor', 'quietPeriod', 'preserveStashes',
        'parallelsAlwaysFailFast', 'newContainerPerStage', 'checkoutToSubdirectory', 'durabilityHint',
        'disableResume', 'overrideIndexTriggers', 'rateLimitBuilds', 'copyArtifactPermission', 'lock',
        'buildBlocker', 'throttleJobProperty']

    OptionsReader(Map target) {
        super(target, OPTIONS)
    }

    Map logRotator(Map args) {
        return [symbol: 'logRotator'] + (Map) DslSupport.plain(args)
    }
}

class ParametersReader {
    final List<Map> target

    ParametersReader(List<Map> target) {
        this.target = target
    }

    void string(Map args) { add('string', args) }

    void booleanParam(Map args) { add('booleanParam', args) }

    void choice(Map args) { add('choice', args) }

    void text(Map args) { add('text', args) }

    void password(Map args) { add('password', args) }

    private void add(String type, Map args) {
        target << ([type: type] + (Map) DslSupport.plain(args))
    }
}

class AgentReader {
    static final List<String> KUBERNETES = ['yaml', 'yamlFile', 'defaultContainer', 'cloud', 'inheritFrom', 'label',
        'namespace', 'serviceAccount', 'nodeSelector', 'idleMinutes', 'instanceCap', 'podRetention',
        'workspaceVolume', 'showRawYaml', 'customWorkspace', 'activeDeadlineSeconds', 'retries',
        'yamlMergeStrategy', 'slaveConnectTimeout', 'supplementalGroups', 'runAsUser', 'runAsGroup']
    static final List<String> DOCKER = ['image', 'args', 'label', 'registryUrl', 'registryCredentialsId', 'reuseNode',
        'alwaysPull', 'customWorkspace']
    static final List<String> DOCKERFILE = ['filename', 'dir', 'label', 'additionalBuildArgs', 'args',
        'customWorkspace', 'reuseNode', 'registryUrl', 'registryCredentialsId']
    static final List<String> NODE = ['label', 'customWorkspace']

    Map spec

    void label(Object value) {
        spec = [label: value?.toString()]
    }

    void node(Closure body) {
        spec = sub('node', NODE, body)
    }

    void kubernetes(Closure body) {
        spec = sub('kubernetes', KUBERNETES, body)
    }

    void docker(Object imageOrBody) {
        spec = imageOrBody instanceof Closure ? sub('docker', DOCKER, (Closure) imageOrBody) :
            [docker: [image: imageOrBody?.toString()]]
    }

    void dockerfile(Object flagOrBody) {
        spec = flagOrBody instanceof Closure ? sub('dockerfile', DOCKERFILE, (Closure) flagOrBody) :
            [dockerfile: [:]]
    }

    private static Map sub(String type, List<String> allowed, Closure body) {
        Map m = [:]
        DslSupport.read(body, new SettingsReader(m, allowed))
        return [(type): m]
    }

    static Map agentSpec(Object value) {
        if (value instanceof Closure) {
            AgentReader reader = new AgentReader()
            DslSupport.read((Closure) value, reader)
            if (reader.spec == null) {
                throw new IllegalArgumentException('agent {} declares no agent type (label, node, docker, kubernetes)')
            }
            return reader.spec
        }
        if (value instanceof Map && (((Map) value).containsKey('any') || ((Map) value).containsKey('none'))) {
            return (Map) value
        }
        throw new IllegalArgumentException("Invalid agent type ${value}: use any, none or a block")
    }
}

/** `agent any` / `agent none` read `any` and `none` as properties of the section readers. */
trait AgentDirective {
    Map getAny() {
        return [any: true]
    }

    Map getNone() {
        return [none: true]
    }
}

class PipelineReader implements AgentDirective {
    final DeclarativeModel m

    PipelineReader(DeclarativeModel m) {
        this.m = m
    }

    void agent(Object value) {
        m.agent = AgentReader.agentSpec(value)
    }

    void options(Closure body) {
        DslSupport.read(body, new OptionsReader(m.options))
    }

    void parameters(Closure body) {
        DslSupport.read(body, new ParametersReader(m.parameters))
    }

    void triggers(Closure body) {
        DslSupport.read(body, new SettingsReader(m.triggers, ['cron', 'pollSCM', 'upstream', 'githubPush',
            'parameterizedCron', 'issueCommentTrigger', 'GenericTrigger', 'gitlab']))
    }

    void tools(Closure body) {
        DslSupport.read(body, new SettingsReader(m.tools, null))
    }

    void environment(Closure body) {
        m.environment = body
    }

    void stages(Closure body) {
        DslSupport.read(body, new StagesReader(m.stages))
    }

    void post(Closure body) {
        DslSupport.read(body, new PostReader(m.post))
    }

    void libraries(Closure body) {
        // `libraries { lib('x') }`: the harness always has the library under test loaded.
    }
}

class StagesReader {
    final List<StageModel> target

    StagesReader(List<StageModel> target) {
        this.target = target
    }

    void stage(Object name, Closure body) {
        StageModel s = new StageModel(name: name.toString())
        DslSupport.read(body, new StageReader(s))
        if (s.steps == null && s.parallel == null && s.stages == null) {
            throw new IllegalArgumentException("Stage \"${s.name}\": nothing to execute within stage " +
                '(needs one of steps, stages, parallel)')
        }
        target << s
    }
}

class StageReader implements AgentDirective {
    final StageModel s

    StageReader(StageModel s) {
        this.s = s
    }

    void agent(Object value) {
        s.agent = AgentReader.agentSpec(value)
    }

    void when(Closure body) {
        s.when = body
    }

    void environment(Closure body) {
        s.environment = body
    }

    void options(Closure body) {
        DslSupport.read(body, new OptionsReader(s.options))
    }

    void tools(Closure body) {
        DslSupport.read(body, new SettingsReader(s.tools, null))
    }

    void input(Closure body) {
        Map m = [:]
        InputReader reader = new InputReader(m)
        DslSupport.read(body, reader)
        if (reader.parameterList) {
            m.parameters = reader.parameterList
        }
        s.input = m
    }

    void steps(Closure body) {
        s.steps = body
    }

    void post(Closure body) {
        DslSupport.read(body, new PostReader(s.post))
    }

    void parallel(Closure body) {
        s.parallel = []
        DslSupport.read(body, new StagesReader(s.parallel))
    }

    void stages(Closure body) {
        s.stages = []
        DslSupport.read(body, new StagesReader(s.stages))
    }

    void failFast(boolean value) {
        s.failFast = value
    }
}

class InputReader extends SettingsReader {
    List<Map> parameterList = []

    InputReader(Map target) {
        super(target, ['message', 'id', 'ok', 'submitter', 'submitterParameter'])
    }

    void parameters(Closure body) {
        DslSupport.read(body, new ParametersReader(parameterList))
    }
}

class PostReader {
    /** Jenkins' order of post conditions. */
    static final List<String> ORDER = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success',
        'unstable', 'unsuccessful', 'notBuilt', 'cleanup']

    final Map<String, Closure> target

    PostReader(Map<String, Closure> target) {
        this.target = target
    }

    Object methodMissing(String name, Object args) {
        Object[] argv = args as Object[]
        if (!ORDER.contains(name) || argv.length != 1 || !(argv[0] instanceof Closure)) {
            throw new MissingMethodException(name, getClass(), argv)
        }
        target[name] = (Closure) argv[0]
        return null
    }
}

/** Reads a `when {}` block into conditions, evaluated afterwards (so closures see their real owners). */
class WhenReader {
    final PipelineHarness h
    final List<Closure> conditions = []

    WhenReader(PipelineHarness h) {
        this.h = h
    }

    void expression(Closure body) {
        conditions << { -> body.call() as boolean }
    }

    void not(Closure body) {
        WhenReader child = nested(body)
        conditions << { -> !child.allOf() }
    }

    void allOf(Closure body) {
        WhenReader child = nested(body)
        conditions << { -> child.allOf() }
    }

    void anyOf(Closure body) {
        WhenReader child = nested(body)
        conditions << { -> child.anyOf() }
    }

    void branch(Object pattern) {
        Map m = pattern instanceof Map ? (Map) pattern : [pattern: pattern]
        conditions << { -> matches(h.env.BRANCH_NAME, m.pattern?.toString(), m.comparator?.toString()) }
    }

    void tag(Object pattern) {
        Map m = pattern instanceof Map ? (Map) pattern : [pattern: pattern]
        conditions << { -> matches(h.env.TAG_NAME, m.pattern?.toString(), m.comparator?.toString()) }
    }

    void buildingTag() {
        conditions << { -> h.env.TAG_NAME != null }
    }

    void changeRequest(Map args = [:]) {
        conditions << { -> h.env.CHANGE_ID != null }
    }

    void environment(Map args) {
        conditions << { -> h.env[args.name?.toString()] == args.value?.toString() }
    }

    void equals(Map args) {
        conditions << { -> DslSupport.plain(args.expected) == DslSupport.plain(args.actual) }
    }

    void triggeredBy(Object cause) {
        conditions << { -> h.currentBuild.buildCauses.any { it?.toString()?.contains(cause.toString()) } }
    }

    void beforeAgent(boolean value) { }

    void beforeInput(boolean value) { }

    void beforeOptions(boolean value) { }

    boolean allOf() {
        return conditions.every { it.call() }
    }

    boolean anyOf() {
        return conditions.any { it.call() }
    }

    private WhenReader nested(Closure body) {
        WhenReader child = new WhenReader(h)
        DslSupport.read(body, child)
        return child
    }

    private static boolean matches(Object value, String pattern, String comparator) {
        if (value == null || pattern == null) {
            return false
        }
        switch ((comparator ?: 'GLOB').toUpperCase()) {
            case 'EQUALS':
                return value.toString() == pattern
            case 'REGEXP':
                return value.toString() ==~ pattern
            default:
                return Glob.toRegex(pattern).matcher(value.toString()).matches()
        }
    }
}

/** Reads an `environment {}` block: each assignment is applied (in order) through `onSet`. */
class EnvironmentReader {
    private final Closure onSet
    private final Map<String, Object> assigned = [:]
    private final EnvVars env

    EnvironmentReader(EnvVars env, Closure onSet) {
        this.env = env
        this.onSet = onSet
    }

    CredentialRef credentials(Object id) {
        return new CredentialRef(id.toString())
    }

    @Override
    void setProperty(String name, Object value) {
        assigned[name] = value
        onSet.call(name, value)
    }

    @Override
    Object getProperty(String name) {
        if (assigned.containsKey(name)) {
            return env.get(name)
        }
        // Not declared in this block: let the closure try its owner (env fallback, globals).
        throw new MissingPropertyException(name, getClass())
    }

    Map<String, Object> assigned() {
        return assigned
    }
}
