# The part of nixpkgs' lib that NixOS configurations commonly use, with
# nixpkgs' semantics (lib/modules.nix, lib/options.nix, lib/types.nix,
# lib/lists.nix, lib/attrsets.nix, lib/strings.nix, lib/trivial.nix). A name
# missing here fails like any missing attribute: "attribute 'x' missing".
#
# Option types are markers: eval.nix reads their name (and separator,
# elemType) to merge definitions; no value is type-checked.
{ release }:
let
  b = builtins;
  inherit (b)
    attrNames concatLists concatMap concatStringsSep elem elemAt filter
    foldl' genList head isAttrs isFunction isList isString length
    listToAttrs mapAttrs match replaceStrings split stringLength substring
    tail toJSON zipAttrsWith;

  lib = rec {
    # Builtins that nixpkgs' lib re-exports under the same names.
    inherit (b)
      add all any attrNames attrValues baseNameOf bitAnd bitOr bitXor catAttrs
      compareVersions concatLists concatMap concatStringsSep deepSeq dirOf div
      elem elemAt filter foldl' fromJSON functionArgs genList getAttr groupBy
      hasAttr hashString head intersectAttrs isAttrs isBool isFloat isFunction
      isInt isList isPath isString length lessThan listToAttrs map mapAttrs
      match mul partition pathExists readFile removeAttrs replaceStrings seq
      sort split splitVersion stringLength sub substring tail toFile toJSON
      toString trace tryEval typeOf zipAttrsWith;

    # --- lib/modules.nix ---------------------------------------------------

    defaultOverridePriority = 100;
    defaultOrderPriority = 1000;
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkOptionDefault = mkOverride 1500;
    mkDefault = mkOverride 1000;
    mkImageMediaOverride = mkOverride 60;
    mkForce = mkOverride 50;
    mkVMOverride = mkOverride 10;
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOrder = priority: content: { _type = "order"; inherit priority content; };
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;

    # --- lib/options.nix ---------------------------------------------------

    # The same formals as nixpkgs, so that a misspelt one fails as there.
    mkOption =
      { default ? null, defaultText ? null, example ? null, description ? null
      , relatedPackages ? null, type ? null, apply ? null, internal ? null
      , visible ? null, readOnly ? null }@attrs:
      attrs // { _type = "option"; };
    mkEnableOption = name: mkOption {
      default = false;
      example = true;
      description = "Whether to enable ${name}.";
      type = types.bool;
    };
    mkPackageOption = pkgs: name:
      { nullable ? false, default ? name, example ? null, extraDescription ? "", pkgsText ? "pkgs" }:
      let path = if isList default then default else [ default ];
      in mkOption {
        type = if nullable then types.nullOr types.package else types.package;
        default = if default == null then null else getAttrFromPath path pkgs;
      };
    isOption = isType "option";
    isType = type: x: isAttrs x && (x._type or "") == type;
    setType = typeName: value: value // { _type = typeName; };
    literalExpression = text:
      if !isString text then throw "literalExpression expects a string."
      else { _type = "literalExpression"; inherit text; };
    literalExample = literalExpression;
    literalMD = text: { _type = "literalMD"; inherit text; };
    mdDoc = x: x;
    showOption = parts:
      let
        escapeOptionPart = part:
          if part == "*" || match "<(.*)>" part != null then part else escapeNixIdentifier part;
      in concatStringsSep "." (map escapeOptionPart parts);
    showFiles = files: concatStringsSep " and " (map (f: "`${toString f}'") files);

    # --- lib/types.nix (markers) --------------------------------------------

    mkOptionType = { name, description ? name, ... }@attrs:
      attrs // { _type = "option-type"; inherit description; };
    types = rec {
      raw = mkOptionType { name = "raw"; unique = true; };
      anything = mkOptionType { name = "anything"; };
      unspecified = mkOptionType { name = "unspecified"; };
      bool = mkOptionType { name = "bool"; description = "boolean"; };
      int = mkOptionType { name = "int"; description = "signed integer"; };
      ints = rec {
        between = lowest: highest: int;
        unsigned = int; positive = int;
        u8 = int; u16 = int; u32 = int; u64 = int;
        s8 = int; s16 = int; s32 = int; s64 = int;
        port = int;
      };
      port = ints.u16;
      float = mkOptionType { name = "float"; description = "floating point number"; };
      number = mkOptionType { name = "number"; };
      numbers = { between = lowest: highest: number; nonnegative = number; positive = number; };
      str = mkOptionType { name = "str"; description = "string"; };
      nonEmptyStr = str;
      singleLineStr = str;
      strMatching = pattern: str;
      separatedString = sep: mkOptionType { name = "separatedString"; separator = sep; };
      lines = separatedString "\n" // { name = "lines"; };
      commas = separatedString ",";
      envVar = separatedString ":";
      string = separatedString "";
      passwdEntry = entryType: entryType;
      attrs = mkOptionType { name = "attrs"; description = "attribute set"; };
      package = mkOptionType { name = "package"; };
      shellPackage = package;
      path = mkOptionType { name = "path"; };
      pathInStore = path;
      externalPath = path;
      listOf = elemType: mkOptionType { name = "listOf"; inherit elemType; };
      nonEmptyListOf = listOf;
      attrsOf = elemType: mkOptionType { name = "attrsOf"; inherit elemType; };
      lazyAttrsOf = attrsOf;
      loaOf = attrsOf;
      uniq = elemType: elemType // { unique = true; };
      unique = { message }: uniq;
      nullOr = elemType: mkOptionType { name = "nullOr"; inherit elemType; };
      functionTo = elemType: mkOptionType { name = "functionTo"; inherit elemType; };
      submodule = modules: mkOptionType { name = "submodule"; inherit modules; };
      submoduleWith = { modules, ... }: submodule modules;
      deferredModule = mkOptionType { name = "deferredModule"; };
      optionType = mkOptionType { name = "optionType"; };
      enum = values: mkOptionType { name = "enum"; inherit values; };
      either = t1: t2: mkOptionType { name = "either"; };
      oneOf = ts: mkOptionType { name = "oneOf"; };
      coercedTo = coercedType: coerceFunc: finalType: finalType;
      addCheck = elemType: check: elemType;
    };

    # --- lib/trivial.nix ---------------------------------------------------

    id = x: x;
    const = x: y: x;
    flip = f: a: b: f b a;
    pipe = foldl' (x: f: f x);
    concat = x: y: x ++ y;
    or = x: y: x || y;
    and = x: y: x && y;
    xor = x: y: (!x) != (!y);
    max = x: y: if x > y then x else y;
    min = x: y: if x < y then x else y;
    mod = base: int: base - (int * (b.div base int));
    fix = f: let x = f x; in x;
    boolToString = x: if x then "true" else "false";
    defaultTo = default: maybeValue: if maybeValue != null then maybeValue else default;
    toFunction = v: if isFunction v then v else k: v;
    setFunctionArgs = f: args: { __functor = self: f; __functionArgs = args; };
    warn = msg: b.trace "[1;35mwarning: ${msg}[0m";
    warnIf = cond: msg: if cond then warn msg else x: x;
    warnIfNot = cond: msg: if cond then x: x else warn msg;
    throwIf = cond: msg: if cond then throw msg else x: x;
    throwIfNot = cond: msg: if cond then x: x else throw msg;
    info = msg: b.trace "INFO: ${msg}";
    importJSON = path: b.fromJSON (b.readFile path);
    importTOML = path: b.fromTOML (b.readFile path);
    inNixShell = false;
    inherit release;
    versionSuffix = "pre-git";
    version = release + versionSuffix;

    # --- lib/asserts.nix ----------------------------------------------------

    assertMsg = pred: msg: pred || throw msg;
    assertOneOf = name: val: xs:
      assertMsg (elem val xs) "${name} must be one of ${generators.toPretty { } xs}, but is: ${generators.toPretty { } val}";

    # --- lib/lists.nix -----------------------------------------------------

    singleton = x: [ x ];
    toList = x: if isList x then x else [ x ];
    optional = cond: elem: if cond then [ elem ] else [ ];
    optionals = cond: elems: if cond then elems else [ ];
    foldr = op: nul: list:
      let len = length list; fold' = n: if n == len then nul else op (elemAt list n) (fold' (n + 1));
      in fold' 0;
    fold = foldr;
    foldl = op: nul: list:
      let go = n: if n == -1 then nul else op (go (n - 1)) (elemAt list n);
      in go (length list - 1);
    imap0 = f: list: genList (n: f n (elemAt list n)) (length list);
    imap1 = f: list: genList (n: f (n + 1) (elemAt list n)) (length list);
    forEach = xs: f: map f xs;
    flatten = x: if isList x then concatMap flatten x else [ x ];
    remove = e: filter (x: x != e);
    findFirst = pred: default: list:
      let found = filter pred list; in if found == [ ] then default else head found;
    count = pred: foldl' (c: x: if pred x then c + 1 else c) 0;
    range = first: last: if first > last then [ ] else genList (n: first + n) (last - first + 1);
    replicate = n: x: genList (_: x) n;
    unique = foldl' (acc: e: if elem e acc then acc else acc ++ [ e ]) [ ];
    allUnique = list: length (unique list) == length list;
    last = list:
      assert list != [ ] || throw "lists.last: list must not be empty!";
      elemAt list (length list - 1);
    init = list:
      assert list != [ ] || throw "lists.init: list must not be empty!";
      take (length list - 1) list;
    sublist = start: count: list:
      let len = length list;
      in genList (n: elemAt list (n + start))
        (if start >= len then 0 else if start + count > len then len - start else count);
    take = count: sublist 0 count;
    drop = count: list: sublist count (length list) list;
    reverseList = xs: let l = length xs; in genList (n: elemAt xs (l - n - 1)) l;
    zipListsWith = f: fst: snd: genList (n: f (elemAt fst n) (elemAt snd n)) (min (length fst) (length snd));
    zipLists = zipListsWith (fst: snd: { inherit fst snd; });
    subtractLists = e: filter (x: !(elem x e));
    intersectLists = e: filter (x: elem x e);
    mutuallyExclusive = a: b': length a == 0 || !(builtins.any (x: elem x a) b');
    ifilter0 = ipred: input:
      map (idx: elemAt input idx) (filter (idx: ipred idx (elemAt input idx)) (genList (x: x) (length input)));

    # --- lib/attrsets.nix --------------------------------------------------

    nameValuePair = name: value: { inherit name value; };
    mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
    attrsToList = mapAttrsToList nameValuePair;
    filterAttrs = pred: set:
      listToAttrs (concatMap (name: let v = set.${name}; in if pred name v then [ (nameValuePair name v) ] else [ ]) (attrNames set));
    filterAttrsRecursive = pred: set:
      listToAttrs (concatMap (name:
        let v = set.${name}; in
        if pred name v then [ (nameValuePair name (if isAttrs v then filterAttrsRecursive pred v else v)) ] else [ ])
        (attrNames set));
    genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);
    getAttrs = names: attrs: genAttrs names (name: attrs.${name});
    attrVals = nameList: set: map (x: set.${x}) nameList;
    optionalAttrs = cond: as: if cond then as else { };
    attrByPath = attrPath: default: set:
      if attrPath == [ ] then set
      else if set ? ${head attrPath} then attrByPath (tail attrPath) default set.${head attrPath}
      else default;
    hasAttrByPath = attrPath: e:
      if attrPath == [ ] then true
      else if e ? ${head attrPath} then hasAttrByPath (tail attrPath) e.${head attrPath}
      else false;
    setAttrByPath = attrPath: value:
      let len = length attrPath; atDepth = n: if n == len then value else { ${elemAt attrPath n} = atDepth (n + 1); };
      in atDepth 0;
    getAttrFromPath = attrPath: set:
      attrByPath attrPath (throw "cannot find attribute `${concatStringsSep "." attrPath}'") set;
    recursiveUpdateUntil = pred: lhs: rhs:
      let
        f = attrPath: zipAttrsWith (n: values:
          let here = attrPath ++ [ n ]; in
          if length values == 1 || pred here (elemAt values 1) (head values) then head values
          else f here values);
      in f [ ] [ rhs lhs ];
    recursiveUpdate = recursiveUpdateUntil (path: lhs: rhs: !(isAttrs lhs && isAttrs rhs));
    zipAttrs = zipAttrsWith (name: values: values);
    foldAttrs = op: nul: list_of_attrs:
      foldr (n: a: foldr (name: o: o // { ${name} = op n.${name} (a.${name} or nul); }) a (attrNames n)) { } list_of_attrs;
    collect = pred: attrs:
      if pred attrs then [ attrs ]
      else if isAttrs attrs then concatMap (collect pred) (b.attrValues attrs)
      else [ ];
    mapAttrsRecursiveCond = cond: f: set:
      let
        recurse = path: mapAttrs (name: value:
          if isAttrs value && cond value then recurse (path ++ [ name ]) value
          else f (path ++ [ name ]) value);
      in recurse [ ] set;
    mapAttrsRecursive = mapAttrsRecursiveCond (as: true);
    concatMapAttrs = f: v: foldl' (x: y: x // y) { } (b.attrValues (mapAttrs f v));
    mergeAttrsList = foldl' (x: y: x // y) { };
    isDerivation = value: isAttrs value && (value.type or null) == "derivation";

    # --- lib/strings.nix ---------------------------------------------------

    concatStrings = concatStringsSep "";
    concatMapStrings = f: list: concatStrings (map f list);
    concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
    concatImapStrings = f: list: concatStrings (imap1 f list);
    concatImapStringsSep = sep: f: list: concatStringsSep sep (imap1 f list);
    concatLines = concatMapStrings (s: s + "\n");
    intersperse = separator: list:
      if list == [ ] || length list == 1 then list
      else tail (concatMap (x: [ separator x ]) list);
    optionalString = cond: string: if cond then string else "";
    hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
    hasSuffix = suffix: content:
      let lenContent = stringLength content; lenSuffix = stringLength suffix;
      in lenContent >= lenSuffix && substring (lenContent - lenSuffix) lenContent content == suffix;
    hasInfix = infix: content: length (split (escapeRegex infix) content) > 1;
    removePrefix = prefix: str:
      let preLen = stringLength prefix; in
      if substring 0 preLen str == prefix then substring preLen (stringLength str - preLen) str else str;
    removeSuffix = suffix: str:
      let sufLen = stringLength suffix; sLen = stringLength str; in
      if sufLen <= sLen && suffix == substring (sLen - sufLen) sufLen str then substring 0 (sLen - sufLen) str else str;
    stringToCharacters = s: genList (p: substring p 1 s) (stringLength s);
    stringAsChars = f: s: concatMapStrings f (stringToCharacters s);
    escape = list: replaceStrings list (map (c: "\\${c}") list);
    escapeRegex = escape (stringToCharacters "\\[{()^$?*+|.");
    escapeShellArg = arg:
      let string = toString arg; in
      if match "[[:alnum:],._+:@%/-]+" string == null
      then "'${replaceStrings [ "'" ] [ "'\\''" ] string}'"
      else string;
    escapeShellArgs = concatMapStringsSep " " escapeShellArg;
    escapeNixString = s: escape [ "$" ] (toJSON s);
    escapeNixIdentifier = s: if match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null then s else escapeNixString s;
    splitString = sep: s: filter isString (split (escapeRegex (toString sep)) (toString s));
    lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
    upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    toLower = replaceStrings upperChars lowerChars;
    toUpper = replaceStrings lowerChars upperChars;
    trim = s:
      let m = match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" s;
      in if m == null then "" else head m;
    versionOlder = v1: v2: b.compareVersions v2 v1 == 1;
    versionAtLeast = v1: v2: !versionOlder v1 v2;
    fileContents = file: removeSuffix "\n" (b.readFile file);
    makeSearchPath = subDir: paths: concatStringsSep ":" (map (path: path + "/" + subDir) (filter (x: x != null) paths));
    makeBinPath = makeSearchPath "bin";
    makeLibraryPath = makeSearchPath "lib";
    fixedWidthString = width: filler: str:
      let strw = stringLength str; reqWidth = width - (stringLength filler); in
      assert strw <= width;
      if strw == width then str else filler + fixedWidthString reqWidth filler str;
    fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);
    isStringLike = x: isString x || b.isPath x || (isAttrs x && (x ? outPath || x ? __toString));
    toInt = str:
      let m = match "[[:space:]]*(-?[[:digit:]]+)[[:space:]]*" str; in
      if m == null then throw "toInt: Could not convert ${escapeNixString str} to int."
      else if match "0[[:digit:]]+" (head m) != null
      then throw "toInt: Ambiguity in interpretation of ${escapeNixString str} between octal and zero padded integer."
      else b.fromJSON (head m);
    toIntBase10 = toInt;
    getExe = pkg: "${pkg}/bin/${baseNameOf (toString pkg)}";
    getExe' = pkg: exe: "${pkg}/bin/${exe}";
    getBin = pkg: pkg;
    getLib = pkg: pkg;
    getDev = pkg: pkg;
    getOutput = output: pkg: pkg;

    # --- lib/versions.nix ---------------------------------------------------

    versions = rec {
      splitVersion = b.splitVersion;
      major = v: elemAt (b.splitVersion v) 0;
      minor = v: elemAt (b.splitVersion v) 1;
      patch = v: elemAt (b.splitVersion v) 2;
      majorMinor = v: concatStringsSep "." (take 2 (b.splitVersion v));
    };

    # --- lib/generators.nix: toPretty, as nixpkgs' showDefs prints values ---

    generators.toPretty = { multiline ? true, ... }:
      let
        go = indent: v:
          let
            introSpace = if multiline then "\n${indent}  " else " ";
            outroSpace = if multiline then "\n${indent}" else " ";
          in
          if b.isInt v || b.isFloat v then toString v
          else if b.isBool v then boolToString v
          else if v == null then "null"
          else if b.isPath v then toString v
          else if isString v then
            let
              lines = filter (x: !isList x) (split "\n" v);
              escapeSingleline = escape [ "\\" "\"" "\${" ];
              escapeMultiline = replaceStrings [ "\${" "''" ] [ "''\${" "'''" ];
              singlelineResult = "\"" + concatStringsSep "\\n" (map escapeSingleline lines) + "\"";
              escapedLines = map escapeMultiline lines;
              lastLine = last escapedLines;
              multilineResult = "''" + introSpace + concatStringsSep introSpace (init escapedLines)
                + (if lastLine == "" then outroSpace else introSpace + lastLine) + "''";
            in if multiline && length lines > 1 then multilineResult else singlelineResult
          else if isList v then
            if v == [ ] then "[ ]"
            else "[" + introSpace + concatStringsSep introSpace (map (go (indent + "  ")) v) + outroSpace + "]"
          else if isFunction v then "<function>"
          else if isAttrs v then
            if isDerivation v then "<derivation ${v.name or "???"}>"
            else if v == { } then "{ }"
            else "{" + introSpace
              + concatStringsSep introSpace (mapAttrsToList (name: value:
                  "${escapeNixIdentifier name} = ${go (indent + "  ") value};") v)
              + outroSpace + "}"
          else b.typeOf v;
      in go "";

    # --- the sub-sets, pointing to the same functions ----------------------

    trivial = {
      inherit id const flip pipe concat or and xor max min mod fix boolToString defaultTo
        toFunction setFunctionArgs warn warnIf warnIfNot throwIf throwIfNot info importJSON
        importTOML inNixShell release versionSuffix version;
      inherit (b) functionArgs isFunction isBool isInt isFloat isString seq deepSeq;
    };
    lists = {
      inherit singleton toList optional optionals foldr fold foldl imap0 imap1 forEach
        flatten remove findFirst count range replicate unique allUnique last init sublist take
        drop reverseList zipListsWith zipLists subtractLists intersectLists mutuallyExclusive
        ifilter0;
      inherit (b) all any concatLists concatMap elem elemAt filter foldl' genList head length
        map partition sort tail groupBy;
    };
    attrsets = {
      inherit nameValuePair mapAttrs' mapAttrsToList attrsToList filterAttrs filterAttrsRecursive
        genAttrs getAttrs attrVals optionalAttrs attrByPath hasAttrByPath setAttrByPath
        getAttrFromPath recursiveUpdateUntil recursiveUpdate zipAttrs foldAttrs collect
        mapAttrsRecursiveCond mapAttrsRecursive concatMapAttrs mergeAttrsList isDerivation;
      inherit (b) attrNames attrValues catAttrs getAttr hasAttr intersectAttrs listToAttrs
        mapAttrs removeAttrs zipAttrsWith;
    };
    strings = {
      inherit concatStrings concatMapStrings concatMapStringsSep concatImapStrings
        concatImapStringsSep concatLines intersperse optionalString hasPrefix hasSuffix hasInfix
        removePrefix removeSuffix stringToCharacters stringAsChars escape escapeRegex
        escapeShellArg escapeShellArgs escapeNixString escapeNixIdentifier splitString
        lowerChars upperChars toLower toUpper trim versionOlder versionAtLeast fileContents
        makeSearchPath makeBinPath makeLibraryPath fixedWidthString fixedWidthNumber
        isStringLike toInt toIntBase10;
      inherit (b) compareVersions concatStringsSep match replaceStrings split splitVersion
        stringLength substring toJSON fromJSON;
    };
    modules = {
      inherit defaultOverridePriority defaultOrderPriority mkOverride mkOptionDefault mkDefault
        mkImageMediaOverride mkForce mkVMOverride mkIf mkMerge mkOrder mkBefore mkAfter;
    };
    options = {
      inherit mkOption mkEnableOption mkPackageOption isOption literalExpression literalExample
        literalMD mdDoc showOption showFiles;
    };
    asserts = { inherit assertMsg assertOneOf; };
  };
in
lib
