"""In-process rendering with ModernGL over EGL: `ShaderRenderer` and `create_gl_context`.

This runs inside a render-pool worker process (see `pool.py`), which owns exactly one GL
context for its whole life. Use the pool (or `earthshader.render.render`) from other code:
a shader rendered in your own process can hang it.

    renderer = ShaderRenderer(create_gl_context())
    result = renderer.render(RenderTask(code, 256, 256))
"""

from __future__ import annotations

import contextlib
import operator
import os
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from earthshader.render import shadertoy
from earthshader.render.result import Diagnostic, RenderResult

#: Set to "1" (or pass `software=True`) to render with Mesa's llvmpipe even when a GPU exists.
SOFTWARE_ENV = "EARTHSHADER_SOFTWARE_GL"

#: Fixed default for `iDate` (year, month from 0, day, seconds) so that output never depends on
#: the wall clock: identical input, identical pixels.
DEFAULT_DATE = (2024.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class RenderTask:
    """Everything a worker needs to render one shader (picklable)."""

    code: str
    width: int
    height: int
    times: tuple[float, ...] = (0.0,)
    mouse: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    date: tuple[float, float, float, float] = DEFAULT_DATE
    channels: tuple[np.ndarray | None, ...] = ()
    uniforms: dict = field(default_factory=dict)
    loop_limit: int = shadertoy.DEFAULT_LOOP_LIMIT
    uniform_declarations: str = ""
    #: The GLSL ES preprocessor's output for `code` when the pool computed it for a whole batch
    #: (`shadertoy.expand_many`); None: the worker runs the preprocessor itself.
    expanded: str | None = None


#: Mesa's llvmpipe code-generation flags, read once when a process creates its first context (see
#: `create_gl_context`): "nopt" compiles without LLVM's optimisation passes.
LLVMPIPE_FLAGS_ENV, LLVMPIPE_FLAGS = "GALLIVM_PERF", "nopt"


def use_software_rendering() -> None:
    """Point EGL at Mesa (llvmpipe) only. Must run before the first context is created."""
    os.environ["LIBGL_ALWAYS_SOFTWARE"] = "1"
    os.environ["EGL_PLATFORM"] = "surfaceless"
    mesa_icd = "/usr/share/glvnd/egl_vendor.d/50_mesa.json"
    if os.path.exists(mesa_icd):
        os.environ["__EGL_VENDOR_LIBRARY_FILENAMES"] = mesa_icd


def create_gl_context(software: bool | None = None):
    """One standalone EGL context (OpenGL 3.3+ core). Raises RuntimeError with a fix if EGL is missing.

    Uninitialised local variables read as zero, as in WebGL (ANGLE zero-fills them, and many
    Shadertoy shaders rely on it); Mesa otherwise leaves them undefined (often NaN).

    On llvmpipe, LLVM's optimisation passes are skipped (`GALLIVM_PERF=nopt`, unless `GALLIVM_PERF` is already
    set, even empty): the programs rendered here are new and their frames small, so compiling is most of a
    render, and the passes cost more than they save (`benchmarks/llvm_passes.py`: same pixels on every shader
    measured, about 0.7x the time for a real shader at 256 px). GPU drivers ignore the variable.
    """
    import moderngl

    if software is None:
        software = os.environ.get(SOFTWARE_ENV, "") not in ("", "0", "false")
    if software:
        use_software_rendering()
    os.environ.setdefault("glsl_zero_init", "true")  # Mesa driconf option; NVIDIA ignores it
    os.environ.setdefault(LLVMPIPE_FLAGS_ENV, LLVMPIPE_FLAGS)
    try:
        with _quiet_stderr():  # Mesa announces the override above on stderr at every start
            return moderngl.create_context(standalone=True, backend="egl", require=330)
    except Exception as err:  # glcontext raises plain Exception subclasses with the EGL reason
        raise RuntimeError(
            f"could not create a headless OpenGL context over EGL ({err}). On Debian/Ubuntu "
            "install the EGL and Mesa drivers: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri"
        ) from err


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the process's C-level stderr (fd 2) for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class ShaderRenderer:
    """Compiles and renders Shadertoy Image passes in one GL context, caching compiled programs.

    The cache (keyed by source and dialect) makes re-rendering a program with other uniform
    values or times free of compilation, and remembers compile failures too.

    Requests do not affect each other: sizes and channels beyond the driver's limits are refused
    before any GL call (`invalid_input`), GL errors are cleared before and after every request,
    every uniform starts from its value at link time (as in a freshly compiled program), and the
    textures a request creates are released on every path.
    """

    def __init__(self, ctx, cache_size: int = 64):
        shadertoy.require_glslang()  # fail at start-up, not on the first shader with a #define
        self.ctx = ctx
        info = ctx.info
        self.renderer_name = info.get("GL_RENDERER", "unknown")
        self.cache_size = cache_size
        texture = int(info.get("GL_MAX_TEXTURE_SIZE", 4096))
        renderbuffer = int(info.get("GL_MAX_RENDERBUFFER_SIZE", texture))
        viewport = info.get("GL_MAX_VIEWPORT_DIMS", (texture, texture))
        #: Largest (width, height) an output may have; the framebuffer's textures and the
        #: viewport must both hold it.
        self.max_size = (min(texture, renderbuffer, int(viewport[0])), min(texture, renderbuffer, int(viewport[1])))
        self.max_texture_size = texture
        self._programs: OrderedDict = OrderedDict()
        self._framebuffers: dict = {}
        self._black = ctx.texture((1, 1), 3, bytes(3))

    def render(self, task: RenderTask) -> RenderResult:
        self._clear_errors()  # whatever an earlier request left must not fail this one
        try:
            return self._render(task)
        finally:
            self._clear_errors()

    def _render(self, task: RenderTask) -> RenderResult:
        try:
            code = shadertoy.check_source(task.code)
            channels = self._check_request(task)
        except shadertoy.InvalidShaderInput as err:
            return RenderResult.failure("invalid_input", str(err), times=task.times,
                                        renderer=self.renderer_name)
        started = time.perf_counter()
        entry, cached = self._program(code, task)
        compile_ms = 0.0 if cached else (time.perf_counter() - started) * 1000
        common = dict(times=task.times, diagnostics=entry.diagnostics, dialect=entry.dialect,
                      compile_ms=compile_ms, renderer=self.renderer_name)
        if entry.program is None:
            errors = [d for d in entry.diagnostics if d.severity == "error"] or entry.diagnostics
            message = str(errors[0]) if errors else "the GLSL compiler refused the shader"
            return RenderResult.failure("compile", message, **common)
        return self._draw(entry, task, channels, common)

    def release(self) -> None:
        for entry in self._programs.values():
            entry.release()
        self._programs.clear()
        for fbo, textures in self._framebuffers.values():
            fbo.release()
            for texture in textures:
                texture.release()
        self._framebuffers.clear()

    def _clear_errors(self) -> None:
        for _ in range(32):  # a GL may queue one flag per error kind; bounded in case of a lost context
            if self.ctx.error == "GL_NO_ERROR":
                return

    # -- checking a request ----------------------------------------------------------------
    def _check_request(self, task: RenderTask) -> list:
        """Refuse what this GL cannot do before calling it (a failed allocation leaves a pending
        GL error); returns the channel images as contiguous uint8 arrays (None for black)."""
        try:
            width, height = operator.index(task.width), operator.index(task.height)
        except TypeError:
            width = height = 0
        if width < 1 or height < 1:
            raise shadertoy.InvalidShaderInput(
                f"the render size must be two positive integers, got {task.width!r} x {task.height!r}")
        if width > self.max_size[0] or height > self.max_size[1]:
            raise shadertoy.InvalidShaderInput(
                f"{width} x {height} is larger than this GL can render ({self.renderer_name}: at most "
                f"{self.max_size[0]} x {self.max_size[1]})")
        if not isinstance(task.uniforms, dict):
            raise shadertoy.InvalidShaderInput(
                f"uniforms must be a dict of name -> value, got {type(task.uniforms).__name__}")
        if not isinstance(task.uniform_declarations, str):
            raise shadertoy.InvalidShaderInput(
                f"uniform_declarations must be GLSL text, got {type(task.uniform_declarations).__name__}")
        if not isinstance(task.channels, (tuple, list)) or len(task.channels) > 4:
            raise shadertoy.InvalidShaderInput("channels must be a list of at most four images (iChannel0..3)")
        return [None if image is None else self._check_channel(index, image)
                for index, image in enumerate(task.channels)]

    def _check_channel(self, index: int, image) -> np.ndarray:
        try:
            array = np.asarray(image)
            if array.dtype != np.uint8:
                array = array.astype(np.uint8, casting="unsafe")
        except (TypeError, ValueError) as err:
            raise shadertoy.InvalidShaderInput(f"iChannel{index} is not an image ({err})") from None
        components = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else 0)
        if components not in (1, 2, 3, 4) or 0 in array.shape:
            raise shadertoy.InvalidShaderInput(
                f"iChannel{index} must be H x W or H x W x 1..4 uint8, got shape {array.shape}")
        if max(array.shape[:2]) > self.max_texture_size:
            raise shadertoy.InvalidShaderInput(
                f"iChannel{index} is {array.shape[1]} x {array.shape[0]}, larger than this GL's "
                f"textures ({self.max_texture_size} a side)")
        return np.ascontiguousarray(array[::-1])

    # -- compiling -------------------------------------------------------------------------
    def _program(self, code: str, task: RenderTask):
        key = (code, task.loop_limit, task.uniform_declarations)
        if key in self._programs:
            self._programs.move_to_end(key)
            return self._programs[key], True
        entry = self._compile(code, task)
        self._programs[key] = entry
        while len(self._programs) > self.cache_size:
            self._programs.popitem(last=False)[1].release()
        return entry, False

    def _compile(self, code: str, task: RenderTask) -> _CompiledProgram:
        import moderngl

        first_diagnostics: list[Diagnostic] = []
        for dialect in shadertoy.DIALECTS:
            try:
                shader = shadertoy.prepare(code, dialect, task.loop_limit, task.uniform_declarations,
                                           task.expanded if dialect == "es300" else None)
            except shadertoy.PreprocessorError as err:
                first_diagnostics = first_diagnostics or err.diagnostics
                if err.stopped:  # at its limits: the other dialect would be stopped too
                    break
                continue
            try:
                program = self.ctx.program(vertex_shader=shadertoy.vertex_shader(dialect),
                                           fragment_shader=shader.source)
            except (moderngl.Error, KeyError) as err:  # KeyError: moderngl's #include resolver
                if not first_diagnostics:
                    first_diagnostics = shadertoy.parse_compiler_log(str(err), shader)
                continue
            try:
                vao = self.ctx.vertex_array(program, [])
            except Exception:
                program.release()
                raise
            # What each uniform holds right after linking: every request starts from these.
            defaults = {name: program[name].read() for name in program
                        if isinstance(program[name], moderngl.Uniform)}
            return _CompiledProgram(program, vao, dialect, first_diagnostics if dialect != "es300" else [],
                                    defaults)
        # Report the ES errors: that is the dialect shadertoy.com compiles.
        return _CompiledProgram(None, None, None, first_diagnostics)

    # -- drawing ---------------------------------------------------------------------------
    def _draw(self, entry: _CompiledProgram, task: RenderTask, channels: list, common: dict) -> RenderResult:
        width, height = int(task.width), int(task.height)
        program = entry.program
        created: list = []  # textures of this request, released on every path
        frames, loop_hit, nonfinite = [], False, 0.0
        started = time.perf_counter()
        try:
            fbo = self._framebuffer(width, height)
            entry.reset_uniforms()
            self._bind_channels(program, channels, created)
            self._set(program, "iResolution", (float(width), float(height), 1.0))
            self._set(program, "iTimeDelta", 1.0 / 60.0)
            self._set(program, "iFrameRate", 60.0)
            self._set(program, "iMouse", tuple(float(v) for v in task.mouse))
            self._set(program, "iSampleRate", 44100.0)
            for name, value in task.uniforms.items():
                try:
                    self._set(program, name, value)
                except Exception as err:  # moderngl raises struct.error, TypeError, ValueError, KeyError
                    return RenderResult.failure(
                        "invalid_input", f"uniform {name!r} cannot take the value {_short(value)} "
                        f"({type(err).__name__}: {err})", **common)
            for t in task.times:
                self._set(program, "iTime", float(t))
                self._set(program, "iFrame", int(round(float(t) * 60.0)))
                self._set(program, "iChannelTime", (float(t),) * 4)
                self._set(program, "iDate", tuple(task.date[:3]) + (task.date[3] + float(t),))
                fbo.use()
                fbo.clear(0.0, 0.0, 0.0, 1.0)
                entry.vao.render(vertices=3)
                pixels = np.frombuffer(fbo.read(components=3, attachment=0, alignment=1), np.uint8)
                frames.append(pixels.reshape(height, width, 3)[::-1].copy())
                flags = np.frombuffer(fbo.read(components=3, attachment=1, alignment=1), np.uint8)
                flags = flags.reshape(-1, 3)
                loop_hit |= bool(flags[:, 0].any())
                nonfinite = max(nonfinite, float((flags[:, 1] > 127).mean()))
            gl_error = self.ctx.error
        finally:
            for texture in created:
                texture.release()
        render_ms = (time.perf_counter() - started) * 1000
        result = dict(common, image=frames[0] if frames else None, frames=frames,
                      render_ms=render_ms, nonfinite_fraction=nonfinite)
        if gl_error != "GL_NO_ERROR":
            self._drop_framebuffer(width, height)  # it may be incomplete: the next request builds its own
            return RenderResult.failure("gl", f"GL error while rendering: {gl_error}", **result)
        if loop_hit:
            return RenderResult.failure(
                "loop_limit", f"a loop ran past the limit of {task.loop_limit} iterations per "
                "pixel (an endless or huge loop); the image would depend on that limit", **result)
        return RenderResult(ok=True, **result)

    def _framebuffer(self, width: int, height: int):
        key = (width, height)
        if key not in self._framebuffers:
            if len(self._framebuffers) >= 8:  # sizes rarely vary; do not hoard memory if they do
                self._drop_framebuffer(*next(iter(self._framebuffers)))
            textures = []
            try:
                for _ in range(2):  # colour, flags (loop limit, non-finite)
                    textures.append(self.ctx.texture((width, height), 4))
                fbo = self.ctx.framebuffer(color_attachments=textures)
            except Exception:
                for texture in textures:
                    texture.release()
                raise
            self._framebuffers[key] = (fbo, tuple(textures))
        return self._framebuffers[key][0]

    def _drop_framebuffer(self, width: int, height: int) -> None:
        fbo, textures = self._framebuffers.pop((width, height), (None, ()))
        if fbo is not None:
            fbo.release()
        for texture in textures:
            texture.release()

    def _bind_channels(self, program, channels: list, created: list) -> None:
        """Bind iChannel0..3 (black where absent); textures made here go into `created`."""
        resolutions = []
        for index in range(4):
            image = channels[index] if index < len(channels) else None
            if image is None:
                texture = self._black
            else:
                h, w = image.shape[:2]
                components = 1 if image.ndim == 2 else image.shape[2]
                texture = self.ctx.texture((w, h), components, image.tobytes(), alignment=1)
                created.append(texture)
                texture.build_mipmaps()
                texture.repeat_x = texture.repeat_y = True
            texture.use(location=index)
            self._set(program, f"iChannel{index}", index)
            resolutions.append((float(texture.width), float(texture.height), 1.0))
        self._set(program, "iChannelResolution", resolutions)

    @staticmethod
    def _set(program, name: str, value) -> None:
        """Set a uniform if the compiler kept it (unused uniforms are optimised away).

        Arrays keep only the elements up to the last one used, so longer values are cut.
        """
        if name not in program:
            return
        uniform = program[name]
        if uniform.array_length > 1 or isinstance(value, list):
            value = list(value)[:uniform.array_length]
            if uniform.array_length == 1:
                value = value[0]
        uniform.value = value


@dataclass
class _CompiledProgram:
    program: object | None
    vao: object | None
    dialect: str | None
    diagnostics: list[Diagnostic]
    defaults: dict = field(default_factory=dict)  # uniform name -> its bytes right after linking

    def reset_uniforms(self) -> None:
        for name, data in self.defaults.items():
            self.program[name].write(data)

    def release(self) -> None:
        if self.vao is not None:
            self.vao.release()
        if self.program is not None:
            self.program.release()


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
