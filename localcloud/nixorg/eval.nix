# A minimal NixOS module system: evaluates the module tree rooted at
# configFile as nixpkgs' lib/modules.nix would, without nixpkgs, and returns
# { "<selected dotted path>" = <final value, JSON-able>; }. Paths with no
# value are left out. The whole configuration is evaluated strictly (as
# building the system would), then config.assertions are checked, so any
# error in it fails the evaluation with its own message.
#
# Differences from NixOS, by design:
#   - only the options declared by the configuration and by ./defaults.nix
#     are known; any other path is merged by the shape of its definitions
#     (see mergeAt), so defining an option NixOS lacks is no error, and
#     reading one that nothing defines fails ("attribute '...' missing")
#     where NixOS would give its default;
#   - no type checks or coercions, no apply, no defaults inside submodules,
#     no freeformType; `options` is the raw declarations, without
#     .value/.isDefined;
#   - warnings are not shown; lib and pkgs are the stubs of lib.nix and
#     pkgs.nix.
{ configFile, modulesPath, select, system ? "x86_64-linux", release ? "24.11" }:
let
  inherit (builtins)
    addErrorContext all any attrNames concatLists concatMap concatStringsSep elem filter
    foldl' functionArgs genericClosure genList head isAttrs isBool isFunction isList isPath
    isString length listToAttrs mapAttrs match sort split substring tail typeOf zipAttrsWith;

  lib = import ./lib.nix { inherit release; };
  pkgs = import ./pkgs.nix { inherit lib system; };
  inherit (lib) showOption;

  # --- messages, as lib/options.nix prints them ---------------------------

  prioritySuggestion = ''
    Use `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions.
  '';

  showDefs = defs: concatStringsSep "" (map (def:
    let
      pretty = builtins.tryEval (lib.generators.toPretty { } def.value);
      lines = filter (v: !isList v) (split "\n" pretty.value);
      value = concatStringsSep "\n    " (lib.take 5 lines ++ lib.optional (length lines > 5) "...");
      result =
        if !pretty.success then ""
        else if length lines > 1 then ":\n    " + value
        else ": " + value;
    in "\n- In `${def.file}'${result}") defs);

  kindOf = v:
    if isList v then "list"
    else if isAttrs v then "attribute set"
    else if isString v then "string"
    else if isBool v then "boolean"
    else if builtins.isInt v then "signed integer"
    else if builtins.isFloat v then "floating point number"
    else if v == null then "null"
    else if isPath v then "path"
    else if isFunction v then "function"
    else typeOf v;

  # --- collecting modules (lib/modules.nix collectStructuredModules) -------

  specialArgs = {
    inherit modulesPath;
    baseModules = [ ];
    extraModules = [ ];
    modules = [ configFile ];
  };
  # The arguments every module function gets, as in NixOS: a function
  # without `...` that does not name them all fails ("called with unexpected
  # argument"). Others (pkgs, or a user's _module.args) by name only.
  moduleArgs = { inherit config options lib; } // specialArgs;

  applyModuleArgs = key: f:
    let
      context = name: ''while evaluating the module argument `${name}' in "${key}":'';
      extraArgs = mapAttrs (name: _:
        addErrorContext (context name) (moduleArgs.${name} or config._module.args.${name}))
        (functionArgs f);
    in f (moduleArgs // extraArgs);

  unifyModuleSyntax = file: key: m:
    let
      addMeta = c: if m ? meta then lib.mkMerge [ c { meta = m.meta; } ] else c;
      common = {
        _file = toString (m._file or file);
        key = toString (m.key or key);
        disabledModules = m.disabledModules or [ ];
      };
    in
    if !(isAttrs m) then
      throw "module ${file} (${key}) does not look like a module: it is a ${kindOf m}."
    else if m ? config || m ? options then
      let
        bad = removeAttrs m [ "_class" "_file" "key" "disabledModules" "imports" "options" "config" "meta" "freeformType" ];
      in
      if bad != { } then
        throw "Module `${key}' has an unsupported attribute `${head (attrNames bad)}'. This is caused by introducing a top-level `config' or `options' attribute. Add configuration attributes immediately on the top level instead, or move all of them (namely: ${toString (attrNames bad)}) into the explicit `config' attribute."
      else common // {
        imports = m.imports or [ ];
        options = m.options or { };
        config = addMeta (m.config or { });
      }
    else common // {
      imports = (m.require or [ ]) ++ (m.imports or [ ]);
      options = { };
      config = removeAttrs m [ "_class" "_file" "key" "disabledModules" "require" "imports" "freeformType" ];
    };

  loadModule = fallbackFile: fallbackKey: m:
    if isFunction m then
      unifyModuleSyntax fallbackFile fallbackKey (applyModuleArgs fallbackKey m)
    else if isAttrs m && !(m ? outPath) then
      if (m._type or "module") == "module" then unifyModuleSyntax fallbackFile fallbackKey m
      else if m._type == "if" || m._type == "override" then loadModule fallbackFile fallbackKey { config = m; }
      else throw "Could not load a value as a module, because it is of type ${lib.escapeNixString m._type}, in file ${fallbackFile}."
    else if isList m then
      throw "Module imports can't be nested lists. Perhaps you meant to remove one level of lists? Definitions:${showDefs [ { file = fallbackFile; value = m; } ]}"
    else
      # A path (or a string naming one): its file is its key.
      let file = toString m; imported = import m; in
      unifyModuleSyntax file file (if isFunction imported then applyModuleArgs file imported else imported);

  collectModules = parentFile: parentKey: initial:
    lib.imap1 (n: x:
      let
        module = loadModule parentFile "${parentKey}:anon-${toString n}" x;
        children = collectModules module._file module.key module.imports;
      in {
        inherit (module) key;
        inherit module;
        modules = children;
        disabled =
          (if module.disabledModules != [ ] then [ { file = module._file; disabled = module.disabledModules; } ] else [ ])
          ++ concatMap (c: c.disabled) children;
      }) initial;

  structured = collectModules "<unknown-file>" "" (import ./defaults.nix { inherit lib pkgs; } ++ [ configFile ]);

  disabledKeys =
    let
      moduleKey = file: m:
        if isString m then (if substring 0 1 m == "/" then m else modulesPath + "/" + m)
        else if isPath m then toString m
        else if isAttrs m && m ? key then toString m.key
        else throw "Each disabledModules item must be a path, string, or a attribute set with a key attribute, or a value supported by toString. However, one of the disabledModules items in `${file}` is none of that, but is of type ${typeOf m}.";
    in concatMap ({ file, disabled }: map (moduleKey file) disabled) (concatMap (c: c.disabled) structured);
  keyFilter = filter (attrs: !(elem attrs.key disabledKeys));

  # Breadth first, each key once: the order NixOS concatenates lists in.
  modules = map (attrs: attrs.module) (genericClosure {
    startSet = keyFilter structured;
    operator = attrs: keyFilter attrs.modules;
  });

  # --- option declarations ------------------------------------------------

  isOption = lib.isOption;

  # The first declaration of a path wins.
  mergeDecls = a: b:
    if isOption a then a
    else if isOption b then b
    else if isAttrs a && isAttrs b then a // mapAttrs (n: v: if a ? ${n} then mergeDecls a.${n} v else v) b
    else a;
  options = foldl' mergeDecls { } (map (m: m.options) modules);

  # The declared defaults of one module, as definitions of priority 1500.
  optionDefaults = opts: listToAttrs (concatMap (n:
    let o = opts.${n}; in
    if isOption o then
      (if o ? default then [ { name = n; value = lib.mkOptionDefault o.default; } ] else [ ])
    else if isAttrs o && !(o ? _type) then
      (let d = optionDefaults o; in if d == { } then [ ] else [ { name = n; value = d; } ])
    else [ ]) (attrNames opts));

  definitions =
    map (m: { file = m._file; value = m.config; }) modules
    ++ concatMap (m:
      let d = optionDefaults m.options; in
      if d == { } then [ ] else [ { file = m._file; value = d; } ]) modules;

  # --- merging -------------------------------------------------------------
  #
  # A node of the merged tree is
  #   { kind = "group"; children = { name = node; }; }   an attribute set
  #   { kind = "value"; value = ...; }                    an option's value
  #   { kind = "none"; }                                  every definition was
  #                                                       dropped (mkIf false)

  valueNode = value: { kind = "value"; inherit value; };

  # Property wrappers are peeled without forcing their condition or priority.
  groupShaped = v:
    if !(isAttrs v) then false
    else if v ? _type then
      (if v._type == "if" || v._type == "override" || v._type == "order" then groupShaped v.content
      else if v._type == "merge" then all groupShaped v.contents
      else false)
    else !(v ? outPath);

  plainAttrs = v: isAttrs v && !(v ? _type) && !(v ? outPath);

  # lib/modules.nix pushDownProperties: mkMerge, mkIf, mkOverride (and here
  # mkOrder) around an attribute set move onto each of its attributes, so
  # that its names are known without evaluating a condition.
  pushDown = d:
    let
      v = d.value;
      wrap = f: map (p: p // { value = mapAttrs (n: f) p.value; }) (pushDown (d // { value = v.content; }));
    in
    if !(v ? _type) then [ d ]
    else if v._type == "merge" then concatMap (c: pushDown (d // { value = c; })) v.contents
    else if v._type == "if" then wrap (lib.mkIf v.condition)
    else if v._type == "override" then wrap (lib.mkOverride v.priority)
    else if v._type == "order" then wrap (lib.mkOrder v.priority)
    else [ d ];

  # lib/modules.nix dischargeProperties, plus the priority and order of the
  # outermost mkOverride and mkOrder: one definition becomes zero or more
  # { file, value, prio, order }.
  discharge = file: prio: order: v:
    if isAttrs v && v ? _type && v._type == "merge" then concatMap (discharge file prio order) v.contents
    else if isAttrs v && v ? _type && v._type == "if" then
      (if !(isBool v.condition) then throw "‘mkIf’ called with a non-Boolean condition"
      else if v.condition then discharge file prio order v.content
      else [ ])
    else if isAttrs v && v ? _type && v._type == "override" then
      discharge file (if prio == null then v.priority else prio) order v.content
    else if isAttrs v && v ? _type && v._type == "order" then
      discharge file prio (if order == null then v.priority else order) v.content
    else [ {
      inherit file;
      value = v;
      prio = if prio == null then lib.defaultOverridePriority else prio;
      order = if order == null then lib.defaultOrderPriority else order;
    } ];

  # Options known to be types.lines (or separatedString "\n") by the last
  # element of their path, used when no declaration says otherwise.
  linesOptionNames = [
    "extraRules" "extraConfig" "extraHosts" "script" "preStart" "postStart" "preStop"
    "postStop" "reload" "text" "extraCommands" "extraStopCommands" "shellInit"
    "interactiveShellInit" "loginShellInit" "promptInit" "localCommands" "postBootCommands"
    "postDeviceCommands" "preDeviceCommands" "postMountCommands" "extraOptions"
    "appendConfig" "commonHttpConfig"
  ];

  # mergeAt: the node of path loc, from its definitions and its declaration.
  # A declared option is merged as an option. An undeclared path is an
  # attribute set of options (merged by attribute, with its properties
  # pushed down, like a NixOS option group) when every definition is one,
  # and an option otherwise.
  mergeAt = loc: decl: defs:
    if isOption decl then mergeOption loc (decl.type or null) defs
    else if all (d: groupShaped d.value) defs then mergeGroup loc decl defs
    else mergeOption loc null defs;

  mergeGroup = loc: decl: defs:
    let
      byName = zipAttrsWith (n: vs: vs)
        (map (d: mapAttrs (n: v: { inherit (d) file; value = v; }) d.value) (concatMap pushDown defs));
      childDecl = n: if isAttrs decl && !(isOption decl) then decl.${n} or null else null;
    in {
      kind = "group";
      children = mapAttrs (n: cdefs: mergeAt (loc ++ [ n ]) (childDecl n) cdefs) byName;
    };

  # lib/modules.nix mergeDefinitions: conditions, then only the definitions
  # of the highest priority, in mkOrder order (sort is stable).
  mergeOption = loc: type: defs:
    let
      discharged = concatMap (d: discharge d.file null null d.value) defs;
      highest = foldl' (p: d: if d.prio < p then d.prio else p) 9999 discharged;
      kept = sort (a: b: a.order < b.order) (filter (d: d.prio == highest) discharged);
    in
    if kept == [ ] then { kind = "none"; } else mergeValues loc type kept;

  mergeValues = loc: type: defs:
    let
      tname = if type == null then null else type.name or null;
      values = map (d: d.value) defs;
      separator =
        if type != null then type.separator or null
        else if loc != [ ] && elem (lib.last loc) linesOptionNames then "\n"
        else null;
      kind = kindOf (head values);
      mistyped = filter (d: kindOf d.value != kind) defs;
    in
    if type != null && (type.unique or false) then
      (if length defs == 1 then valueNode (head values)
      else throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.\n\nDefinition values:${showDefs defs}\n${prioritySuggestion}")
    else if tname == "attrsOf" then mergeAttrsOf loc type.elemType defs
    else if tname == "nullOr" then
      (if all (v: v == null) values then valueNode null
      else if any (v: v == null) values then
        throw "The option `${showOption loc}' is defined both null and not null, in ${lib.showFiles (map (d: d.file) defs)}."
      else mergeValues loc type.elemType defs)
    else if all isList values then
      valueNode (concatMap (d: map (resolveElement loc d.file) d.value) defs)
    else if all plainAttrs values then mergeGroup loc null defs
    else if separator != null && all isString values then valueNode (concatStringsSep separator values)
    else if (isList (head values) || isAttrs (head values) || any isList values || any isAttrs values) && mistyped != [ ] then
      throw "A definition for option `${showOption loc}' is not of type `${kind}'. Definition values:${showDefs [ (head mistyped) ]}"
    else mergeEqual loc defs;

  # lib/options.nix mergeEqualOption.
  mergeEqual = loc: defs:
    if length defs == 1 then valueNode (head defs).value
    else valueNode (foldl' (first: def:
      if def.value != first.value then
        throw "The option `${showOption loc}' has conflicting definition values:${showDefs [ first def ]}\n${prioritySuggestion}"
      else first) (head defs) (tail defs)).value;

  # types.attrsOf: each element is an option of its own (priorities and
  # conditions apply per element); elements left with no definition are
  # not there.
  mergeAttrsOf = loc: elemType: defs:
    let
      mistyped = filter (d: !(plainAttrs d.value)) defs;
      byName = zipAttrsWith (n: vs: vs) (map (d: mapAttrs (n: v: { inherit (d) file; value = v; }) d.value) defs);
      elements = mapAttrs (n: edefs: mergeOption (loc ++ [ n ]) elemType edefs) byName;
    in
    if mistyped != [ ] then
      throw "A definition for option `${showOption loc}' is not of type `attribute set'. Definition values:${showDefs [ (head mistyped) ]}"
    else { kind = "group"; children = lib.filterAttrs (n: e: e.kind != "none") elements; };

  # An attribute set in a list (a submodule, as in swapDevices or
  # ipv4.addresses) has its own properties resolved; attributes left with
  # no definition are not there.
  resolveElement = loc: file: e:
    if groupShaped e then valueOf (mergeGroup loc null [ { inherit file; value = e; } ]) else e;
  valueOf = node:
    if node.kind == "group" then mapAttrs (n: valueOf) (lib.filterAttrs (n: c: c.kind != "none") node.children)
    else node.value;

  configOf = loc: node:
    if node.kind == "group" then mapAttrs (n: configOf (loc ++ [ n ])) node.children
    else if node.kind == "value" then node.value
    else throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";

  tree = mergeAt [ ] options definitions;
  config = configOf [ ] tree;

  # --- the answer ---------------------------------------------------------

  # Paths become strings (not store paths); functions are dropped.
  jsonable = v:
    if isPath v then toString v
    else if isList v then map jsonable (filter (x: !(isFunction x)) v)
    else if isAttrs v then
      (if v ? outPath then toString v
      else mapAttrs (n: jsonable) (lib.filterAttrs (n: x: !(isFunction x)) v))
    else v;

  nodeJSON = node:
    if node.kind == "group" then
      mapAttrs (n: nodeJSON) (lib.filterAttrs (n: c: c.kind != "none" && !(c.kind == "value" && isFunction c.value)) node.children)
    else jsonable node.value;

  # Dotted paths; a component may be quoted: fileSystems."/boot".device.
  parsePath = s:
    let
      parts = split "(\"[^\"]*\"|[^.\"]+)" s;
      comps = map head (filter isList parts);
      seps = filter isString parts;
    in
    if comps == [ ] || seps != [ "" ] ++ genList (_: ".") (length comps - 1) ++ [ "" ] then
      throw "select: cannot parse the option path ${lib.escapeNixString s}"
    else map (c: let m = match "\"(.*)\"" c; in if m == null then c else head m) comps;

  lookup = node: path:
    if path == [ ] then node
    else if node.kind == "group" then
      (if node.children ? ${head path} then lookup node.children.${head path} (tail path) else null)
    else if node.kind == "value" && isAttrs node.value && node.value ? ${head path} then
      lookup (valueNode node.value.${head path}) (tail path)
    else null;

  selected = listToAttrs (concatMap (s:
    let n = lookup tree (parsePath s); in
    if s == "@hash" then [ ]
    else if n == null || n.kind == "none" || (n.kind == "value" && isFunction n.value) then [ ]
    else [ { name = s; value = nodeJSON n; } ]) select)
    # "@hash": a digest of the whole configuration, which identifies the system as the
    # derivation of a real build does (any option's value changes it; a comment does not).
    // (if builtins.elem "@hash" select then { "@hash" = builtins.hashString "sha256" (builtins.toJSON everything); } else { });

  # Everything but the module arguments (pkgs), strictly.
  everything = nodeJSON (tree // { children = removeAttrs tree.children [ "_module" ]; });

  # nixos/modules/system/activation/top-level.nix (lib.asserts.checkAssertWarn).
  failedAssertions = map (x: x.message) (filter (x: !x.assertion) config.assertions);
in
builtins.deepSeq everything (
  if failedAssertions != [ ] then
    throw "\nFailed assertions:\n${concatStringsSep "\n" (map (x: "- ${x}") failedAssertions)}"
  else selected)
