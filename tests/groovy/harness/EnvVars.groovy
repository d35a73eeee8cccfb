/**
 * Jenkins' `env`: one map shared by every script of the build. Like EnvActionImpl, values are
 * stored as strings (`env.N = 1` stores "1") and assigning null removes the variable. Reading a
 * missing variable gives null.
 */
class EnvVars extends LinkedHashMap<Object, Object> {

    private static final long serialVersionUID = 1L

    @Override
    Object put(Object key, Object value) {
        if (key == null) {
            throw new IllegalArgumentException('env: a variable name cannot be null')
        }
        String name = key.toString()
        if (value == null) {
            return super.remove(name)
        }
        return super.put(name, value.toString())
    }

    @Override
    void putAll(Map m) {
        m.each { k, v -> put(k, v) }
    }

    @Override
    Object get(Object key) {
        return super.get(key?.toString())
    }

    @Override
    boolean containsKey(Object key) {
        return super.containsKey(key?.toString())
    }

    @Override
    Object remove(Object key) {
        return super.remove(key?.toString())
    }

    @Override
    Object getProperty(String name) {
        return get(name)
    }

    @Override
    void setProperty(String name, Object value) {
        put(name, value)
    }

    /** As `env.getEnvironment()` in Jenkins: a copy of all variables. */
    Map<String, String> getEnvironment() {
        return new LinkedHashMap<String, String>(this)
    }

    /** The String → String map a child process gets. */
    Map<String, String> toProcessEnvironment() {
        Map<String, String> m = [:]
        each { k, v -> m[k.toString()] = v.toString() }
        return m
    }

}
